package file

import (
	"context"
	"fmt"
	"os"
	"time"
)

// staleAfter is the age past which Prune removes a temporary or claimed file
// or a trash directory: what a crash left behind. A Set, Pull, Delete or
// Clear in progress is younger by far.
const staleAfter = time.Hour

// Prune walks the whole directory, every prefix's entries included, and
// removes the files of expired entries, files that are not valid entry files
// (a bad header, or a length that does not match the header: Prune reads
// headers only, so a value damaged in place is caught by the Get that reads
// it), directories left empty, and what a crash left behind for more than an
// hour (temporary files, claimed files, the trash of an unfinished Clear).
// Names that are not of the driver's layout are left alone. Its cost is one
// open and one small read per entry. It goes on past errors and returns the
// first.
func (dr *Driver) Prune(ctx context.Context) error {
	if err := dr.s.check(ctx); err != nil {
		return fmt.Errorf("file: prune: %w", err)
	}
	if err := dr.s.prune(ctx, time.Now()); err != nil {
		return fmt.Errorf("file: prune: %w", err)
	}
	return nil
}

// pruneLoop calls prune every interval until ctx is cancelled, then closes
// s.done.
func (s *store) pruneLoop(ctx context.Context, interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			err := s.prune(ctx, now)
			if err != nil && ctx.Err() == nil && s.o.OnPruneError != nil {
				s.o.OnPruneError(fmt.Errorf("file: prune: %w", err))
			}
		}
	}
}

// prune is one run of Prune at now.
func (s *store) prune(ctx context.Context, now time.Time) error {
	p := pruner{s: s, ctx: ctx, nowMs: now.UnixMilli()}
	p.dir(s.root, true)
	return p.err
}

// pruner is one run of Prune.
type pruner struct {
	s     *store
	ctx   context.Context
	nowMs int64
	err   error // the first error
}

// fail records err, if it is the first.
func (p *pruner) fail(err error) {
	if p.err == nil && err != nil {
		p.err = err
	}
}

// dir prunes directory dir, depth first, removing its subdirectories that it
// leaves empty.
func (p *pruner) dir(dir string, top bool) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !missing(err) { // missing: not created yet, or cleared meanwhile
			p.fail(err)
		}
		return
	}
	for _, e := range entries {
		if err := p.ctx.Err(); err != nil {
			p.fail(err)
			return
		}
		name := e.Name()
		path := dir + string(os.PathSeparator) + name
		switch {
		case isDirName(name) && e.IsDir():
			p.dir(path, false)
			// Fails unless it is empty. A Set that loses its directory
			// here makes it again.
			_ = os.Remove(path)
		case isEntryName(name) && e.Type().IsRegular():
			p.file(path)
		case p.stale(name, tempPrefix) || p.stale(name, claimPrefix):
			p.remove(path)
		case top && name == trashDir && e.IsDir():
			p.trash(path)
		}
	}
}

// file removes the entry file at path if it is expired or not an entry
// file.
func (p *pruner) file(path string) {
	f, err := os.Open(path)
	if err != nil {
		if !missing(err) {
			p.fail(err)
		}
		return
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		p.fail(err)
		return
	}
	h, _, ok, err := readHeader(f, fi.Size())
	f.Close()
	switch {
	case err != nil:
		p.fail(err)
	case !ok || !h.live(p.nowMs):
		p.s.discard(path, fi)
	}
}

// trash removes the directories of the trash that an unfinished Clear left.
func (p *pruner) trash(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !missing(err) {
			p.fail(err)
		}
		return
	}
	for _, e := range entries {
		if p.stale(e.Name(), "") {
			if err := os.RemoveAll(dir + string(os.PathSeparator) + e.Name()); err != nil {
				p.fail(err)
			}
		}
	}
}

// remove removes the file at path.
func (p *pruner) remove(path string) {
	if err := os.Remove(path); err != nil && !missing(err) {
		p.fail(err)
	}
}

// stale reports whether name was made by stampedName with prefix more than
// staleAfter ago.
func (p *pruner) stale(name, prefix string) bool {
	ms, ok := stampOf(name, prefix)
	return ok && p.nowMs-ms > staleAfter.Milliseconds()
}
