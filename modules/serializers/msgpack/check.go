package msgpack

import "fmt"

// maxDepth bounds how deeply containers may nest in data to decode: the
// limit encoding/json applies, far past any cached value, and far below
// what would exhaust a goroutine's stack in the recursive decoder.
const maxDepth = 10_000

// checkValue reports whether data holds exactly one well-formed MessagePack
// value that is safe to hand to the decoder: every string, binary and
// extension fits in the bytes that remain, every array and map claims no
// more elements than there are bytes left to hold them (each element takes
// at least one), and containers nest at most maxDepth deep. Since every
// element a container claims is then really there, the decoder allocates in
// proportion to len(data), whatever the headers say.
//
// vmihailenco/msgpack caps some preallocations but not that of []any or of
// typed slices, and limits no depth; this walk, which allocates only its
// stack of open containers, runs before it. It is iterative, so that a deep
// input cannot exhaust the stack here either.
func checkValue(data []byte) error {
	var open []int // for each open container, the elements it still owes
	owed := 1      // elements the innermost open container (or the top) still owes
	i := 0
	for {
		for owed == 0 {
			if len(open) == 0 {
				if i != len(data) {
					return fmt.Errorf("msgpack: %d bytes after the value, at byte %d", len(data)-i, i)
				}
				return nil
			}
			owed, open = open[len(open)-1], open[:len(open)-1]
		}
		if i >= len(data) {
			return fmt.Errorf("msgpack: data ends at byte %d inside a value", i)
		}
		at, c := i, data[i]
		i++
		owed--
		s, elems, err := header(c, data[i:])
		if err != nil {
			return fmt.Errorf("msgpack: byte %d: %w", at, err)
		}
		if left := len(data) - i; s.head > left {
			return fmt.Errorf("msgpack: byte %d: a %d-byte header where %d bytes remain", at, s.head, left)
		}
		i += s.head
		left := len(data) - i
		if s.body > left {
			return fmt.Errorf("msgpack: byte %d: a value of %d bytes where %d remain", at, s.body, left)
		}
		i += s.body
		if elems > left {
			return fmt.Errorf("msgpack: byte %d: a container of %d elements where %d bytes remain", at, elems, left)
		}
		if elems > 0 {
			if len(open) >= maxDepth {
				return fmt.Errorf("msgpack: byte %d: containers nested more than %d deep", at, maxDepth)
			}
			open = append(open, owed)
			owed = elems
		}
	}
}

// size is what follows a format byte: a header of fixed length (a length
// field, an extension type, a number) and a body whose length the header
// gives.
type size struct{ head, body int }

// header reads the format byte c of a value and the bytes that follow it
// (rest): the length of the value's header and body, and for an array or
// map the number of elements (keys and values) it claims.
func header(c byte, rest []byte) (s size, elems int, err error) {
	// n reads a big-endian length of w bytes.
	n := func(w int) (int, error) {
		if len(rest) < w {
			return 0, fmt.Errorf("a %d-byte length where %d bytes remain", w, len(rest))
		}
		v := 0
		for _, b := range rest[:w] {
			v = v<<8 | int(b)
		}
		return v, nil
	}
	switch {
	case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3: // fixints, nil, bools
		return size{}, 0, nil
	case c <= 0x8f: // fixmap
		return size{}, 2 * int(c&0x0f), nil
	case c <= 0x9f: // fixarray
		return size{}, int(c & 0x0f), nil
	case c <= 0xbf: // fixstr
		return size{body: int(c & 0x1f)}, 0, nil
	}
	switch c {
	case 0xc4, 0xc5, 0xc6, 0xd9, 0xda, 0xdb: // bin 8/16/32, str 8/16/32
		w := 1 << (c - 0xc4)
		if c >= 0xd9 {
			w = 1 << (c - 0xd9)
		}
		l, err := n(w)
		return size{head: w, body: l}, 0, err
	case 0xc7, 0xc8, 0xc9: // ext 8/16/32: a length, then a type byte
		w := 1 << (c - 0xc7)
		l, err := n(w)
		return size{head: w + 1, body: l}, 0, err
	case 0xca, 0xce, 0xd2: // float32, uint32, int32
		return size{head: 4}, 0, nil
	case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
		return size{head: 8}, 0, nil
	case 0xcc, 0xd0: // uint8, int8
		return size{head: 1}, 0, nil
	case 0xcd, 0xd1: // uint16, int16
		return size{head: 2}, 0, nil
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1/2/4/8/16: a type byte, then the data
		return size{head: 1 + 1<<(c-0xd4)}, 0, nil
	case 0xdc, 0xdd: // array 16/32
		w := 2 << (c - 0xdc)
		l, err := n(w)
		return size{head: w}, l, err
	case 0xde, 0xdf: // map 16/32
		w := 2 << (c - 0xde)
		l, err := n(w)
		return size{head: w}, 2 * l, err
	}
	return size{}, 0, fmt.Errorf("format byte %#x is not MessagePack", c)
}
