package bento_test

import (
	"testing"

	"github.com/bentocache/bento"
)

// FuzzLoadJSON loads arbitrary configs: each must build a manager or return
// an error, never panic, and a manager it builds must close. The seed
// corpus, in testdata/fuzz/FuzzLoadJSON, holds the configs of the docs and
// the hostile ones (bad sizes, huge numbers, long names, deep nesting).
func FuzzLoadJSON(f *testing.F) {
	f.Add([]byte(`{"stores": {"main": {"ttl": "1h", "l1": {"driver": "memory", "max_size": "64MiB"}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := bento.LoadJSON(t.Context(), data)
		if err != nil {
			if len(err.Error()) > 4*len(data)+2048 {
				t.Fatalf("LoadJSON(%d bytes) error is %d bytes; want user input abridged", len(data), len(err.Error()))
			}
			return
		}
		if err := b.Close(); err != nil {
			t.Fatalf("Close of a manager loaded from %q = %v", data, err)
		}
	})
}
