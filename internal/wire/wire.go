// Package wire is the binary, versioned encoding of the messages bento
// instances exchange on a bus: which node sent it, what happened (set, delete,
// expire, clear), in which namespace, to which keys and when.
//
// Version 1 lays a message out as
//
//	version   1 byte, always 1
//	kind      1 byte: 1 set, 2 delete, 3 expire, 4 clear
//	time      signed varint (zigzag), unix milliseconds
//	sender    uvarint length, then the bytes
//	namespace uvarint length, then the bytes
//	keys      uvarint count, then per key: uvarint length, then the bytes
//
// with varints as in [encoding/binary] and nothing after the last key. A
// message that does not follow this layout exactly is rejected by [Decode]
// with an error wrapping [ErrMalformed] or [ErrVersion]; Decode never panics
// and allocates no more than a small multiple of the input's length.
package wire

import (
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// Version is the format version that [Message.AppendBinary] writes and that
// [Decode] reads.
const Version = 1

var (
	// ErrMalformed is wrapped by every error [Decode] returns for bytes that
	// are not a well-formed message: truncated, bad varint, unknown kind,
	// lengths or counts past the end, trailing bytes.
	ErrMalformed = errors.New("wire: malformed message")
	// ErrVersion is wrapped by the error [Decode] returns for a message
	// written in a version of the format this build does not read, such as
	// one from a newer peer.
	ErrVersion = errors.New("wire: unknown version")
)

// Kind says what happened to the keys of a [Message].
type Kind uint8

// The kinds of [Message]. The zero Kind is invalid.
const (
	// KindSet says the keys were written: receivers make their copy stale.
	KindSet Kind = iota + 1
	// KindDelete says the keys were deleted: receivers remove their copy.
	KindDelete
	// KindExpire says the keys were expired: receivers make their copy stale.
	KindExpire
	// KindClear says the namespace was cleared, with its children.
	KindClear
)

// String returns the kind's lowercase name ("set", "delete", "expire",
// "clear"), or "Kind(n)" for an invalid kind.
func (k Kind) String() string {
	switch k {
	case KindSet:
		return "set"
	case KindDelete:
		return "delete"
	case KindExpire:
		return "expire"
	case KindClear:
		return "clear"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Valid reports whether k is one of the defined kinds.
func (k Kind) Valid() bool {
	return k >= KindSet && k <= KindClear
}

// Message is one bus notification.
type Message struct {
	// Sender is the id of the publishing node; receivers ignore their own.
	Sender string
	// Kind says what happened.
	Kind Kind
	// Namespace is the namespace path relative to the store prefix: "" for
	// the root, nested namespaces joined as "users:posts".
	Namespace string
	// Keys are the keys within Namespace; empty for a clear. [Decode]
	// returns nil, never an empty slice, when there are none.
	Keys []string
	// Time is the publication time in unix milliseconds.
	Time int64
}

// AppendBinary appends the encoding of m to dst and returns the extended
// slice. It fails only when m.Kind is not a valid [Kind].
func (m *Message) AppendBinary(dst []byte) ([]byte, error) {
	if !m.Kind.Valid() {
		return dst, fmt.Errorf("wire: encoding message: invalid kind %d", uint8(m.Kind))
	}
	dst = append(dst, Version, byte(m.Kind))
	dst = binary.AppendVarint(dst, m.Time)
	dst = appendString(dst, m.Sender)
	dst = appendString(dst, m.Namespace)
	dst = binary.AppendUvarint(dst, uint64(len(m.Keys)))
	for _, k := range m.Keys {
		dst = appendString(dst, k)
	}
	return dst, nil
}

// MarshalBinary returns the encoding of m; see [Message.AppendBinary].
func (m *Message) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(make([]byte, 0, m.size()))
}

// size is an upper bound of the encoded length of m.
func (m *Message) size() int {
	n := 2 + 4*binary.MaxVarintLen64 + len(m.Sender) + len(m.Namespace)
	for _, k := range m.Keys {
		n += binary.MaxVarintLen64 + len(k)
	}
	return n
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// Decode parses one message written by [Message.AppendBinary]. It reads the
// whole of data: trailing bytes are an error. Errors wrap [ErrMalformed] or
// [ErrVersion].
func Decode(data []byte) (Message, error) {
	var m Message
	if len(data) == 0 {
		return Message{}, fmt.Errorf("%w: empty input", ErrMalformed)
	}
	if v := data[0]; v != Version {
		return Message{}, fmt.Errorf("%w %d (this build reads version %d)", ErrVersion, v, Version)
	}
	if len(data) < 2 {
		return Message{}, fmt.Errorf("%w: truncated before kind", ErrMalformed)
	}
	m.Kind = Kind(data[1])
	if !m.Kind.Valid() {
		return Message{}, fmt.Errorf("%w: unknown kind %d", ErrMalformed, data[1])
	}
	r := reader{data: data, off: 2}
	var err error
	if m.Time, err = r.varint(field{name: "time"}); err != nil {
		return Message{}, err
	}
	if m.Sender, err = r.string(field{name: "sender"}); err != nil {
		return Message{}, err
	}
	if m.Namespace, err = r.string(field{name: "namespace"}); err != nil {
		return Message{}, err
	}
	n, err := r.uvarint(field{name: "key count"})
	if err != nil {
		return Message{}, err
	}
	// Every key takes at least one byte (its length), so a count larger
	// than what is left cannot be honest; checking it here bounds the slice.
	if left := r.left(); n > uint64(left) {
		return Message{}, fmt.Errorf("%w: key count %d at offset %d exceeds the %d bytes left", ErrMalformed, n, r.off, left)
	}
	if n > 0 {
		m.Keys = make([]string, n)
		for i := range m.Keys {
			if m.Keys[i], err = r.string(field{name: "key", index: i + 1}); err != nil {
				return Message{}, err
			}
		}
	}
	if left := r.left(); left != 0 {
		return Message{}, fmt.Errorf("%w: %d trailing bytes at offset %d", ErrMalformed, left, r.off)
	}
	return m, nil
}

// field names what is being read, for error messages; it is formatted only
// when an error occurs.
type field struct {
	name   string
	index  int  // 1-based position of a key; 0 for other fields
	length bool // the length prefix of the field rather than its bytes
}

func (f field) String() string {
	s := f.name
	if f.index != 0 {
		s += " " + strconv.Itoa(f.index)
	}
	if f.length {
		s += " length"
	}
	return s
}

// reader reads the fields of a message, checking every length against what
// is left of data.
type reader struct {
	data []byte
	off  int
}

func (r *reader) left() int { return len(r.data) - r.off }

func (r *reader) uvarint(f field) (uint64, error) {
	v, n := binary.Uvarint(r.data[r.off:])
	if n <= 0 {
		return 0, r.varintErr(f, n)
	}
	r.off += n
	return v, nil
}

func (r *reader) varint(f field) (int64, error) {
	v, n := binary.Varint(r.data[r.off:])
	if n <= 0 {
		return 0, r.varintErr(f, n)
	}
	r.off += n
	return v, nil
}

func (r *reader) varintErr(f field, n int) error {
	if n == 0 {
		return fmt.Errorf("%w: %s: truncated varint at offset %d", ErrMalformed, f, r.off)
	}
	return fmt.Errorf("%w: %s: varint overflows 64 bits at offset %d", ErrMalformed, f, r.off)
}

func (r *reader) string(f field) (string, error) {
	start := r.off
	lf := f
	lf.length = true
	n, err := r.uvarint(lf)
	if err != nil {
		return "", err
	}
	if left := r.left(); n > uint64(left) {
		return "", fmt.Errorf("%w: %s: length %d at offset %d exceeds the %d bytes left", ErrMalformed, f, n, start, left)
	}
	s := string(r.data[r.off : r.off+int(n)])
	r.off += int(n)
	return s, nil
}

// Interface guards
var (
	_ encoding.BinaryAppender  = (*Message)(nil)
	_ encoding.BinaryMarshaler = (*Message)(nil)
	_ fmt.Stringer             = Kind(0)
)
