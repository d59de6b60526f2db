package main

import "strings"

// A keptSection is a section of the page that a script other than the
// report measures and writes, between two marker lines: the report keeps
// what the previous page had there, or writes a placeholder.
type keptSection struct {
	script string // the script that writes it, as its markers name it
	title  string
	what   string // what the script measures, for the placeholder
}

// keptSections are the page's kept sections, in page order.
var keptSections = []keptSection{
	{script: "bench/http/run", title: "HTTP cache (bento_cache)", what: "measures it with wrk"},
	{script: "bench/callgrind", title: "Instructions per operation (callgrind)", what: "counts them with valgrind"},
}

func (k keptSection) begin() string { return "<!-- " + k.script + ": begin -->" }
func (k keptSection) end() string   { return "<!-- " + k.script + ": end -->" }

// keptSectionsOf returns, by script, the kept sections page has, markers
// included.
func keptSectionsOf(page string) map[string]string {
	kept := map[string]string{}
	for _, k := range keptSections {
		i := strings.Index(page, k.begin()+"\n")
		if i < 0 {
			continue
		}
		j := strings.Index(page[i:], "\n"+k.end())
		if j < 0 {
			continue
		}
		kept[k.script] = page[i : i+j+1+len(k.end())]
	}
	return kept
}

// keptSectionsPart writes every kept section: as the previous page had it,
// or a placeholder between its markers, which its script fills.
func (r *report) keptSectionsPart() {
	for _, k := range keptSections {
		if s := r.opts.Kept[k.script]; s != "" {
			r.para("%s", strings.TrimRight(s, "\n"))
			continue
		}
		r.p("%s", k.begin())
		r.para("## %s", k.title)
		r.para("*Not measured: `%s --write` %s and writes it here.*", k.script, k.what)
		r.para("%s", k.end())
	}
}
