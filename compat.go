package bento

import (
	"fmt"
	"strings"

	"github.com/bentocache/bento/internal/bcwire"
	"github.com/bentocache/bento/internal/wire"
)

// bentoCacheCodec is BentoCache's bus encoding (internal/bcwire), for a
// store under [BentoCacheCompat]. BentoCache names a message's namespace by
// its full prefix path ("bentocache" for the root of the prefix
// "bentocache", "bentocache:users" for its namespace "users"); bento's
// messages name it relative to the store's prefix, so the codec maps one to
// the other and leaves the messages of other prefixes out. BentoCache's
// messages carry no time: a received one is taken as sent now.
type bentoCacheCodec struct {
	prefix string
	now    func() int64 // unix ms
}

// The kinds of bento's messages and the types of BentoCache's, which say
// the same: a set or an expire makes the receiver's copies stale (BentoCache
// "logically expires" them), a delete removes them, a clear clears the
// namespace.
var (
	bcTypes = map[wire.Kind]bcwire.Type{
		wire.KindSet: bcwire.TypeSet, wire.KindDelete: bcwire.TypeDelete,
		wire.KindExpire: bcwire.TypeExpire, wire.KindClear: bcwire.TypeClear,
	}
	bcKinds = func() map[bcwire.Type]wire.Kind {
		kinds := make(map[bcwire.Type]wire.Kind, len(bcTypes))
		for k, t := range bcTypes {
			kinds[t] = k
		}
		return kinds
	}()
)

func (c bentoCacheCodec) encode(m *wire.Message) ([]byte, error) {
	t, ok := bcTypes[m.Kind]
	if !ok {
		return nil, fmt.Errorf("bento: no BentoCache bus message for kind %s", m.Kind)
	}
	return bcwire.Message{BusID: m.Sender, Type: t, Namespace: c.full(m.Namespace), Keys: m.Keys}.AppendBinary(nil)
}

func (c bentoCacheCodec) decode(payload []byte) (wire.Message, bool, error) {
	bm, err := bcwire.Decode(payload)
	if err != nil {
		return wire.Message{}, false, err
	}
	path, ok := c.relative(bm.Namespace)
	if !ok {
		return wire.Message{}, false, nil
	}
	m := wire.Message{Sender: bm.BusID, Kind: bcKinds[bm.Type], Namespace: path, Keys: bm.Keys, Time: c.now()}
	if m.Kind == wire.KindClear {
		m.Keys = nil
	}
	return m, true, nil
}

// full returns the BentoCache namespace of the namespace path of the store
// ("" for its root).
func (c bentoCacheCodec) full(path string) string {
	switch {
	case c.prefix == "" && path == "":
		return bcwire.DefaultNamespace
	case c.prefix == "":
		return path
	case path == "":
		return c.prefix
	}
	return c.prefix + ":" + path
}

// relative returns the namespace path of the store that the BentoCache
// namespace ns names, and false when ns is not under the store's prefix.
func (c bentoCacheCodec) relative(ns string) (string, bool) {
	switch {
	case ns == "" || ns == bcwire.DefaultNamespace:
		return "", c.prefix == ""
	case c.prefix == "":
		return ns, true
	case ns == c.prefix:
		return "", true
	}
	path, ok := strings.CutPrefix(ns, c.prefix+":")
	return path, ok && path != ""
}
