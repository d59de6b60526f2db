package file

import (
	"encoding/binary"
	"hash/crc32"
	"io"
	"time"
)

// The format of an entry file, version 1. Integers are big-endian.
//
//	offset  size  field
//	0       4     magic "bnto"
//	4       1     version, 1
//	5       8     expiry, unix milliseconds; 0 = never
//	13      4     key length K
//	17      8     value length V
//	25      4     CRC-32C of bytes 0-24, the key and the value
//	29      K     the full key, "prefix:namespace:key"
//	29+K    V     the value
//
// The key makes a lookup exact whatever the file's name (a hashed name is
// checked against it) and lets Clear match keys past maxDepth. The lengths
// catch a truncated file from its header alone, and the checksum catches
// garbage of the right length, such as the zeroed blocks a crash can leave
// in a file written without [Options.Sync].
const (
	magic      = "bnto"
	version    = 1
	headerSize = 29
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// header is the fixed part of an entry file.
type header struct {
	expires  int64 // unix ms; 0: never
	keyLen   uint32
	valueLen uint64
	crc      uint32
}

// size is the length of the file that h describes.
func (h header) size() uint64 {
	return headerSize + uint64(h.keyLen) + h.valueLen
}

// live reports whether an entry expiring at h.expires is still there at
// nowMs. Expiry is rounded up to the millisecond (see expiresAt), so an entry
// never disappears early.
func (h header) live(nowMs int64) bool {
	return h.expires == 0 || nowMs < h.expires
}

// expiresAt returns the expiry of an entry written at now for ttl, in unix
// milliseconds rounded up; 0 for ttl <= 0 (no expiry).
func expiresAt(now time.Time, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	// In milliseconds, rounded up: a UnixNano would overflow past 2262.
	t := now.Add(ttl)
	ms := t.UnixMilli()
	if t.Nanosecond()%int(time.Millisecond) != 0 {
		ms++
	}
	return ms
}

// encodeEntry returns the content of the file of full key k.
func encodeEntry(k string, value []byte, expires int64) []byte {
	b := make([]byte, headerSize, headerSize+len(k)+len(value))
	copy(b, magic)
	b[4] = version
	binary.BigEndian.PutUint64(b[5:], uint64(expires))
	binary.BigEndian.PutUint32(b[13:], uint32(len(k)))
	binary.BigEndian.PutUint64(b[17:], uint64(len(value)))
	b = append(b, k...)
	b = append(b, value...)
	binary.BigEndian.PutUint32(b[25:], checksum(b))
	return b
}

// checksum returns the CRC-32C of an entry file's content b, its own field
// excluded.
func checksum(b []byte) uint32 {
	crc := crc32.Update(0, castagnoli, b[:25])
	return crc32.Update(crc, castagnoli, b[headerSize:])
}

// decodeHeader parses the fixed header of a file of size bytes. ok is false
// when it is not an entry file of this version, or when its lengths do not
// add up to size.
func decodeHeader(b []byte, size int64) (h header, ok bool) {
	if len(b) < headerSize || string(b[:4]) != magic || b[4] != version {
		return header{}, false
	}
	h = header{
		expires:  int64(binary.BigEndian.Uint64(b[5:])),
		keyLen:   binary.BigEndian.Uint32(b[13:]),
		valueLen: binary.BigEndian.Uint64(b[17:]),
		crc:      binary.BigEndian.Uint32(b[25:]),
	}
	// valueLen is checked alone first: the sum could overflow.
	if h.expires < 0 || size < 0 || h.valueLen > uint64(size) || h.size() != uint64(size) {
		return header{}, false
	}
	return h, true
}

// decodeEntry parses a whole entry file and checks its checksum. The key
// and value point into b.
func decodeEntry(b []byte) (h header, key, value []byte, ok bool) {
	h, ok = decodeHeader(b, int64(len(b)))
	if !ok || checksum(b) != h.crc {
		return header{}, nil, nil, false
	}
	end := headerSize + int(h.keyLen)
	return h, b[headerSize:end], b[end:], true
}

// readHeader reads the header and the key of the entry file r, of size
// bytes, without its value. ok is false for a file that is not an entry
// file; err is an I/O error other than the end of a short file.
func readHeader(r io.Reader, size int64) (h header, key []byte, ok bool, err error) {
	var hb [headerSize]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return header{}, nil, false, nil
		}
		return header{}, nil, false, err
	}
	h, ok = decodeHeader(hb[:], size)
	if !ok {
		return header{}, nil, false, nil
	}
	key = make([]byte, h.keyLen)
	if _, err := io.ReadFull(r, key); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return header{}, nil, false, nil
		}
		return header{}, nil, false, err
	}
	return h, key, true, nil
}
