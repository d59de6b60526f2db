// Package bcwire is the encoding of the bus messages that BentoCache 1.6.1
// (the Node.js library) exchanges through its Redis bus driver, so that a
// bento store can publish to and read from a channel shared with Node
// services.
//
// BentoCache's binary encoder lays one message out as
//
//	bus id     24 bytes, the sender's id (a cuid2)
//	type       1 byte: 1 set, 2 clear, 3 delete, 4 expire
//	namespace  uint32 big-endian length, then the bytes
//	keys       per key: uint32 big-endian length, then the bytes, to the end
//
// The namespace is the full prefix path of the cache that published ("P" for
// the root cache of prefix P, "P:users" for its namespace "users"); an empty
// one stands for [DefaultNamespace]. There is no time field and no version
// byte. [Decode] rejects bytes that do not follow this layout exactly with an
// error wrapping [ErrMalformed]; it never panics.
package bcwire

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// IDLen is the length in bytes of the bus id at the start of every message.
const IDLen = 24

// DefaultNamespace is the namespace BentoCache reads an empty namespace as.
const DefaultNamespace = "__default__"

// channelPrefix is BentoCache's bus channel; a named store appends ":" and
// its name.
const channelPrefix = "bentocache.notifications"

// ErrMalformed is wrapped by every error [Decode] returns: a message shorter
// than its header, an unknown type, or a length past the end.
var ErrMalformed = errors.New("bcwire: malformed message")

// Type says what happened to the keys of a [Message].
type Type uint8

// The types of [Message], numbered as BentoCache's binary encoder numbers
// them. The zero Type is invalid.
const (
	// TypeSet says the keys were written: receivers make their copy stale.
	TypeSet Type = 1
	// TypeClear says the namespace was cleared.
	TypeClear Type = 2
	// TypeDelete says the keys were deleted: receivers remove their copy.
	TypeDelete Type = 3
	// TypeExpire says the keys were expired: receivers make their copy stale.
	TypeExpire Type = 4
)

// String returns the type's lowercase name ("set", "clear", "delete",
// "expire"), or "Type(n)" for an invalid type.
func (t Type) String() string {
	switch t {
	case TypeSet:
		return "set"
	case TypeClear:
		return "clear"
	case TypeDelete:
		return "delete"
	case TypeExpire:
		return "expire"
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// Valid reports whether t is one of the defined types.
func (t Type) Valid() bool {
	return t >= TypeSet && t <= TypeExpire
}

// Message is one BentoCache bus notification.
type Message struct {
	// BusID is the sender's id, exactly [IDLen] bytes.
	BusID string
	// Type says what happened.
	Type Type
	// Namespace is the full prefix path of the publishing cache; empty
	// stands for [DefaultNamespace].
	Namespace string
	// Keys are the keys concerned, relative to Namespace. A clear carries
	// none.
	Keys []string
}

// AppendBinary appends the encoding of m to b. It fails when the bus id is
// not [IDLen] bytes, the type is invalid, or a length does not fit in 32
// bits.
func (m Message) AppendBinary(b []byte) ([]byte, error) {
	if len(m.BusID) != IDLen {
		return b, fmt.Errorf("bcwire: bus id %q is %d bytes, want %d", m.BusID, len(m.BusID), IDLen)
	}
	if !m.Type.Valid() {
		return b, fmt.Errorf("bcwire: invalid message type %d", uint8(m.Type))
	}
	b = append(b, m.BusID...)
	b = append(b, byte(m.Type))
	var err error
	if b, err = appendString(b, m.Namespace); err != nil {
		return b, fmt.Errorf("bcwire: namespace: %w", err)
	}
	for i, k := range m.Keys {
		if b, err = appendString(b, k); err != nil {
			return b, fmt.Errorf("bcwire: key %d: %w", i, err)
		}
	}
	return b, nil
}

func appendString(b []byte, s string) ([]byte, error) {
	if uint64(len(s)) > 1<<32-1 {
		return b, fmt.Errorf("%d bytes do not fit a uint32 length", len(s))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...), nil
}

// Decode reads one message. Keys and strings are copies: b may be reused.
func Decode(b []byte) (Message, error) {
	if len(b) < IDLen+1+4 {
		return Message{}, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrMalformed, len(b), IDLen+5)
	}
	m := Message{BusID: string(b[:IDLen]), Type: Type(b[IDLen])}
	if !m.Type.Valid() {
		return Message{}, fmt.Errorf("%w: unknown type %d", ErrMalformed, b[IDLen])
	}
	rest := b[IDLen+1:]
	var err error
	if m.Namespace, rest, err = readString(rest); err != nil {
		return Message{}, fmt.Errorf("%w: namespace: %w", ErrMalformed, err)
	}
	for len(rest) > 0 {
		var k string
		if k, rest, err = readString(rest); err != nil {
			return Message{}, fmt.Errorf("%w: key %d: %w", ErrMalformed, len(m.Keys), err)
		}
		m.Keys = append(m.Keys, k)
	}
	return m, nil
}

func readString(b []byte) (string, []byte, error) {
	if len(b) < 4 {
		return "", nil, fmt.Errorf("%d bytes left, want a 4-byte length", len(b))
	}
	n := binary.BigEndian.Uint32(b)
	b = b[4:]
	if uint64(n) > uint64(len(b)) {
		return "", nil, fmt.Errorf("length %d past the end (%d bytes left)", n, len(b))
	}
	return string(b[:n]), b[n:], nil
}

// Channel returns the bus channel of the BentoCache store named store:
// "bentocache.notifications:<store>", or "bentocache.notifications" for an
// unnamed one.
func Channel(store string) string {
	if store == "" {
		return channelPrefix
	}
	return channelPrefix + ":" + store
}

// NewBusID returns a fresh random bus id of [IDLen] bytes, shaped like a
// cuid2 (a lowercase letter, then lowercase letters and digits) so that it
// reads like the ids of the Node processes on the same channel.
func NewBusID() string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	var raw [IDLen]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails (Go 1.24+)
	id := make([]byte, IDLen)
	id[0] = alphabet[10+int(raw[0])%26]
	for i := 1; i < IDLen; i++ {
		id[i] = alphabet[int(raw[i])%len(alphabet)]
	}
	return string(id)
}
