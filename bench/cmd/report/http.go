package main

import "strings"

// The lines around the section bench/http/run writes, which measures
// with wrk rather than go test and so is not made from the inputs.
const (
	httpBegin = "<!-- bench/http/run: begin -->"
	httpEnd   = "<!-- bench/http/run: end -->"
)

// httpSection writes the HTTP cache section of the previous page as it
// was, or a placeholder between the markers that bench/http/run fills.
func (r *report) httpSection() {
	if r.opts.HTTP != "" {
		r.para("%s", strings.TrimRight(r.opts.HTTP, "\n"))
		return
	}
	r.p("%s", httpBegin)
	r.para("## HTTP cache (bento_cache)")
	r.para("*Not measured: `bench/http/run --write` measures it with wrk and writes it here.*")
	r.para("%s", httpEnd)
}

// keptHTTP returns page's lines from httpBegin to httpEnd, or "" when it
// has none.
func keptHTTP(page string) string {
	i := strings.Index(page, httpBegin+"\n")
	if i < 0 {
		return ""
	}
	j := strings.Index(page[i:], "\n"+httpEnd)
	if j < 0 {
		return ""
	}
	return page[i : i+j+1+len(httpEnd)]
}
