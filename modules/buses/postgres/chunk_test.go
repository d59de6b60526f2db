package postgres

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestIdentifier(t *testing.T) {
	t.Parallel()
	// The mapping is part of the wire format: every process, whatever its
	// version, must name the same PostgreSQL channel.
	const want = "bento_0a0822b9bdab28bb0362341e2fb4674e"
	if got := Identifier("bento.bus:bento:main"); got != want {
		t.Errorf("Identifier(%q) = %q; want %q", "bento.bus:bento:main", got, want)
	}
	valid := regexp.MustCompile(`^bento_[0-9a-f]{32}$`)
	names := []string{"", "a", "A", "a*", "a.*", strings.Repeat("x", 1000), "é\x00\n\"'; DROP TABLE t"}
	seen := make(map[string]string)
	for _, n := range names {
		id := Identifier(n)
		if !valid.MatchString(id) || len(id) > 63 {
			t.Errorf("Identifier(%.20q) = %q; want bento_ and 32 lower-case hex digits, at most 63 bytes", n, id)
		}
		if other, dup := seen[id]; dup {
			t.Errorf("Identifier(%.20q) = Identifier(%.20q) = %q; want distinct channels", n, other, id)
		}
		seen[id] = n
		if again := Identifier(n); again != id {
			t.Errorf("Identifier(%.20q) = %q, then %q; want the same", n, id, again)
		}
	}
}

func TestEncodeChunks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		size, chunks int
	}{
		{0, 1}, {1, 1}, {chunkSize - 1, 1}, {chunkSize, 1}, {chunkSize + 1, 2},
		{7999, 2}, {8000, 2}, {3 * chunkSize, 3}, {100 << 10, 18}, {1 << 20, 180},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("size=%d", tt.size), func(t *testing.T) {
			t.Parallel()
			payload := pattern(tt.size)
			chunks, err := encodeChunks("0123456789abcdef", 18446744073709551615, payload)
			if err != nil {
				t.Fatalf("encodeChunks(<%d bytes>) = %v", tt.size, err)
			}
			if len(chunks) != tt.chunks {
				t.Errorf("encodeChunks(<%d bytes>) returned %d chunks; want %d", tt.size, len(chunks), tt.chunks)
			}
			var r reassembler
			for i, c := range chunks {
				if len(c) >= notifyLimit {
					t.Fatalf("chunk %d is %d bytes; want fewer than %d, PostgreSQL's limit", i, len(c), notifyLimit)
				}
				msg, complete, err := r.add(time.Now(), "ch", c)
				if err != nil {
					t.Fatalf("reassembler.add(chunk %d) = %v; want <nil>", i, err)
				}
				if last := i == len(chunks)-1; complete != last {
					t.Fatalf("reassembler.add(chunk %d of %d) complete = %v; want %v", i, len(chunks), complete, last)
				}
				if complete && !bytes.Equal(msg, payload) {
					t.Errorf("reassembled %s; want %s", show(msg), show(payload))
				}
			}
			if len(r.pending) != 0 || r.bytes != 0 {
				t.Errorf("reassembler holds %d messages, %d bytes after a complete one; want none", len(r.pending), r.bytes)
			}
		})
	}
	if _, err := encodeChunks("s", 1, make([]byte, MaxPayload+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("encodeChunks(<MaxPayload+1 bytes>) = %v; want ErrTooLarge", err)
	}
}

func TestParseChunk_Malformed(t *testing.T) {
	t.Parallel()
	data := base64.StdEncoding.EncodeToString([]byte("abc"))
	tests := []struct{ name, s string }{
		{"Empty", ""},
		{"NoVersion", "0123:1:0:1:" + data},
		{"OtherVersion", "b2:s:1:0:1:" + data},
		{"FourFields", "b1:s:1:0:" + data},
		{"NoSender", "b1::1:0:1:" + data},
		{"LongSender", "b1:" + strings.Repeat("s", maxSender+1) + ":1:0:1:" + data},
		{"NegativeID", "b1:s:-1:0:1:" + data},
		{"IDOverflow", "b1:s:18446744073709551616:0:1:" + data},
		{"SignedSeq", "b1:s:1:+0:1:" + data},
		{"HexTotal", "b1:s:1:0:0x1:" + data},
		{"ZeroTotal", "b1:s:1:0:0:" + data},
		{"SeqPastTotal", "b1:s:1:2:2:" + data},
		{"TooManyChunks", fmt.Sprintf("b1:s:1:0:%d:", maxChunks+1)},
		{"BadBase64", "b1:s:1:0:1:abc!"},
		{"Unpadded", "b1:s:1:0:1:YWJjZA"},
		{"ChunkTooBig", "b1:s:1:0:2:" + base64.StdEncoding.EncodeToString(make([]byte, chunkSize+3))},
		{"TooLong", "b1:s:1:0:1:" + strings.Repeat("A", notifyLimit)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if c, err := parseChunk(tt.s); !errors.Is(err, errMalformed) {
				t.Errorf("parseChunk(%.60q) = %+v, %v; want an error wrapping errMalformed", tt.s, c, err)
			}
		})
	}
}

// TestReassembler_Interleaved feeds the chunks of three messages, from two
// senders and on two channels, interleaved.
func TestReassembler_Interleaved(t *testing.T) {
	t.Parallel()
	type msg struct {
		channel, sender string
		id              uint64
		payload         []byte
		chunks          []string
	}
	msgs := []*msg{
		{channel: "a", sender: "s1", id: 1, payload: pattern(3 * chunkSize)},
		{channel: "a", sender: "s2", id: 1, payload: bytes.Repeat([]byte("x"), 2*chunkSize+5)},
		{channel: "b", sender: "s1", id: 1, payload: bytes.Repeat([]byte("y"), 3*chunkSize-1)},
	}
	for _, m := range msgs {
		var err error
		if m.chunks, err = encodeChunks(m.sender, m.id, m.payload); err != nil {
			t.Fatal(err)
		}
	}
	var r reassembler
	got := make(map[*msg][]byte)
	for i := range 3 {
		for _, m := range msgs {
			if i >= len(m.chunks) {
				continue
			}
			out, complete, err := r.add(time.Now(), m.channel, m.chunks[i])
			if err != nil {
				t.Fatalf("add(chunk %d of %s/%d on %q) = %v; want <nil>", i, m.sender, m.id, m.channel, err)
			}
			if complete {
				got[m] = out
			}
		}
	}
	for _, m := range msgs {
		if !bytes.Equal(got[m], m.payload) {
			t.Errorf("message %s/%d on %q reassembled as %s; want %s", m.sender, m.id, m.channel, show(got[m]), show(m.payload))
		}
	}
}

func TestReassembler_Bounds(t *testing.T) {
	t.Parallel()
	start := func(sender string, id uint64) string {
		c, err := encodeChunks(sender, id, pattern(2*chunkSize))
		if err != nil {
			t.Fatal(err)
		}
		return c[0]
	}
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	t.Run("MaxPending", func(t *testing.T) {
		t.Parallel()
		r, drops := recorded()
		for i := range maxPending + 1 {
			if _, _, err := r.add(t0.Add(time.Duration(i)*time.Millisecond), "ch", start("s", uint64(i))); err != nil {
				t.Fatal(err)
			}
		}
		if len(r.pending) != maxPending {
			t.Errorf("reassembler holds %d incomplete messages after %d starts; want %d", len(r.pending), maxPending+1, maxPending)
		}
		if want := []string{"s/0: too many incomplete messages"}; !equal(*drops, want) {
			t.Errorf("drops = %q; want %q: the oldest goes first", *drops, want)
		}
	})
	t.Run("Timeout", func(t *testing.T) {
		t.Parallel()
		r, drops := recorded()
		mustAdd(t, r, t0, start("s", 1))
		mustAdd(t, r, t0.Add(pendingTimeout-time.Millisecond), start("s", 2))
		mustAdd(t, r, t0.Add(pendingTimeout), start("s", 3))
		if want := []string{"s/1: timed out"}; !equal(*drops, want) {
			t.Errorf("drops = %q; want %q", *drops, want)
		}
		if len(r.pending) != 2 {
			t.Errorf("reassembler holds %d incomplete messages; want 2", len(r.pending))
		}
	})
	t.Run("Bytes", func(t *testing.T) {
		t.Parallel()
		r, drops := recorded()
		r.maxBytes = 5 * chunkSize
		full := base64.StdEncoding.EncodeToString(pattern(chunkSize))
		// Three messages of 4 chunks, each fed all but its last chunk:
		// together more than maxBytes.
		for id := range uint64(3) {
			for seq := range 3 {
				mustAdd(t, r, t0.Add(time.Duration(id)*time.Second), fmt.Sprintf("b1:s:%d:%d:4:%s", id, seq, full))
			}
		}
		if r.bytes > r.maxBytes {
			t.Errorf("reassembler holds %d bytes; want at most %d", r.bytes, r.maxBytes)
		}
		if want := []string{"s/0: too many bytes in incomplete messages", "s/1: too many bytes in incomplete messages"}; !equal(*drops, want) {
			t.Errorf("drops = %q; want %q: the oldest go first", *drops, want)
		}
	})
	t.Run("Restart", func(t *testing.T) {
		t.Parallel()
		r, drops := recorded()
		mustAdd(t, r, t0, start("s", 1))
		mustAdd(t, r, t0, start("s", 1))
		r.reset("connection lost")
		if want := []string{"s/1: restarted", "s/1: connection lost"}; !equal(*drops, want) {
			t.Errorf("drops = %q; want %q", *drops, want)
		}
		if len(r.pending) != 0 || r.bytes != 0 {
			t.Errorf("reassembler holds %d messages, %d bytes after reset; want none", len(r.pending), r.bytes)
		}
	})
}

// recorded returns an empty reassembler and the drops it reports, as
// "sender/id: reason".
func recorded() (*reassembler, *[]string) {
	drops := new([]string)
	r := &reassembler{onDrop: func(k partialKey, reason string) {
		*drops = append(*drops, fmt.Sprintf("%s/%d: %s", k.sender, k.id, reason))
	}}
	return r, drops
}

func mustAdd(t *testing.T, r *reassembler, now time.Time, s string) {
	t.Helper()
	if _, _, err := r.add(now, "ch", s); err != nil {
		t.Fatalf("add(%.40q) = %v; want <nil>", s, err)
	}
}

func equal(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

// FuzzReassembler feeds arbitrary notifications: no panic, and the bounds
// hold.
func FuzzReassembler(f *testing.F) {
	chunks, _ := encodeChunks("0123456789abcdef", 7, pattern(2*chunkSize+3))
	for _, c := range chunks {
		f.Add(c, c, uint8(0))
	}
	f.Add("b1:s:1:0:2:QUJD", "b1:s:1:1:2:QUJD", uint8(1))
	f.Add("", "b1:", uint8(2))
	f.Fuzz(func(t *testing.T, a, b string, seconds uint8) {
		var r reassembler
		now := time.Unix(0, 0)
		for _, s := range []string{a, b, a, chunks[0], b, chunks[1], a, chunks[2]} {
			now = now.Add(time.Duration(seconds) * time.Second)
			msg, complete, err := r.add(now, "ch", s)
			if err != nil && (complete || msg != nil) {
				t.Fatalf("add(%.40q) = %d bytes, %v, %v; want no message with an error", s, len(msg), complete, err)
			}
			held := 0
			for _, p := range r.pending {
				held += len(p.data)
			}
			if held != r.bytes || r.bytes > maxPendingBytes || len(r.pending) > maxPending {
				t.Fatalf("reassembler holds %d messages, %d bytes (counted %d); want at most %d and %d", len(r.pending), held, r.bytes, maxPending, maxPendingBytes)
			}
		}
	})
}

// FuzzChunks checks that any payload survives encoding and reassembly.
func FuzzChunks(f *testing.F) {
	f.Add([]byte{}, uint16(0))
	f.Add([]byte("hello"), uint16(3))
	f.Add(bytes.Repeat([]byte{0, 255}, 100), uint16(chunkSize))
	f.Fuzz(func(t *testing.T, seed []byte, extra uint16) {
		payload := append(bytes.Repeat(seed, int(extra)/max(1, len(seed))+1), seed...)
		chunks, err := encodeChunks("s", 1, payload)
		if err != nil {
			t.Fatal(err)
		}
		var r reassembler
		for i, c := range chunks {
			msg, complete, err := r.add(time.Now(), "ch", c)
			if err != nil {
				t.Fatalf("add(chunk %d) = %v", i, err)
			}
			if complete != (i == len(chunks)-1) {
				t.Fatalf("add(chunk %d of %d) complete = %v", i, len(chunks), complete)
			}
			if complete && !bytes.Equal(msg, payload) {
				t.Fatalf("reassembled %s; want %s", show(msg), show(payload))
			}
		}
	})
}
