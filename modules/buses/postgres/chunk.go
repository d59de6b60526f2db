package postgres

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The wire format. Every NOTIFY payload the bus sends is one chunk:
//
//	b1:<sender>:<id>:<seq>:<total>:<data>
//
// sender is the publishing bus's random id (16 lowercase hex digits), id the
// message's number on that bus, seq the chunk's index (0 to total-1), total
// the number of chunks of the message (1 or more), all three in decimal, and
// data the standard base64 of the chunk's bytes. A message of n bytes has
// max(1, ⌈n/chunkSize⌉) chunks; an empty message is one chunk with no data.
const (
	// wireVersion starts every chunk; a chunk with another version is
	// dropped.
	wireVersion = "b1"
	// chunkSize is the number of payload bytes per chunk: a multiple of 3,
	// so each chunk's base64 stands alone, and 7800 base64 characters plus a
	// header of at most maxHeader bytes stay under PostgreSQL's limit of
	// 8000 bytes per NOTIFY payload.
	chunkSize = 5850
	// maxHeader bounds the header: "b1:", a sender of at most maxSender
	// bytes, a 20-digit id, two 4-digit numbers and four colons.
	maxHeader = len(wireVersion) + 1 + maxSender + 1 + 20 + 1 + 4 + 1 + 4 + 1
	// maxSender bounds the sender field a receiver accepts.
	maxSender = 32
	// notifyLimit is PostgreSQL's limit: a NOTIFY payload must be shorter.
	notifyLimit = 8000
	// maxChunks is the number of chunks of a MaxPayload message.
	maxChunks = (MaxPayload + chunkSize - 1) / chunkSize
)

// Bounds of the reassembly of chunked messages on the receiving side.
const (
	// maxPending is how many incomplete messages are kept at once; past it,
	// the oldest is dropped.
	maxPending = 64
	// maxPendingBytes bounds the bytes held by incomplete messages; past it,
	// the oldest are dropped.
	maxPendingBytes = 2 * MaxPayload
	// pendingTimeout is how long after its first chunk an incomplete
	// message is dropped, the next time another message starts.
	pendingTimeout = 30 * time.Second
)

// A full chunk with the longest header fits in a NOTIFY payload: this
// constant overflows, and the package does not compile, otherwise.
const _ = uint(notifyLimit - 1 - maxHeader - chunkSize/3*4)

// Identifier returns the PostgreSQL channel that carries the bento channel
// named channel: "bento_" followed by the first 16 bytes of the SHA-256 of
// the name, in hex. Any string maps to a lower-case identifier of 38 bytes,
// within PostgreSQL's 63, and the mapping is the same in every process.
// It is the name to LISTEN to, or to look for in pg_listening_channels(),
// when debugging.
func Identifier(channel string) string {
	sum := sha256.Sum256([]byte(channel))
	return "bento_" + hex.EncodeToString(sum[:16])
}

// encodeChunks returns the NOTIFY payloads that carry payload, in order.
func encodeChunks(sender string, id uint64, payload []byte) ([]string, error) {
	if len(payload) > MaxPayload {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(payload), MaxPayload)
	}
	total := max(1, (len(payload)+chunkSize-1)/chunkSize)
	chunks := make([]string, 0, total)
	var sb strings.Builder
	for seq := range total {
		part := payload[min(seq*chunkSize, len(payload)):min((seq+1)*chunkSize, len(payload))]
		sb.Reset()
		sb.Grow(maxHeader + base64.StdEncoding.EncodedLen(len(part)))
		sb.WriteString(wireVersion)
		sb.WriteByte(':')
		sb.WriteString(sender)
		sb.WriteByte(':')
		sb.WriteString(strconv.FormatUint(id, 10))
		sb.WriteByte(':')
		sb.WriteString(strconv.Itoa(seq))
		sb.WriteByte(':')
		sb.WriteString(strconv.Itoa(total))
		sb.WriteByte(':')
		enc := base64.NewEncoder(base64.StdEncoding, &sb)
		_, _ = enc.Write(part) // a strings.Builder never fails
		_ = enc.Close()
		chunks = append(chunks, sb.String())
	}
	return chunks, nil
}

// chunk is one parsed NOTIFY payload.
type chunk struct {
	sender     string
	id         uint64
	seq, total int
	data       []byte
}

// errMalformed is wrapped by the errors of parseChunk.
var errMalformed = errors.New("malformed notification")

// parseChunk parses one NOTIFY payload. It accepts only what encodeChunks
// produces, within the bounds a receiver keeps to.
func parseChunk(s string) (chunk, error) {
	if len(s) >= notifyLimit {
		return chunk{}, fmt.Errorf("%w: %d bytes", errMalformed, len(s))
	}
	rest, ok := strings.CutPrefix(s, wireVersion+":")
	if !ok {
		return chunk{}, fmt.Errorf("%w: not a %s chunk", errMalformed, wireVersion)
	}
	f := strings.SplitN(rest, ":", 5)
	if len(f) != 5 {
		return chunk{}, fmt.Errorf("%w: %d header fields, want 5", errMalformed, len(f))
	}
	if f[0] == "" || len(f[0]) > maxSender {
		return chunk{}, fmt.Errorf("%w: sender of %d bytes", errMalformed, len(f[0]))
	}
	id, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return chunk{}, fmt.Errorf("%w: message id: %w", errMalformed, err)
	}
	seq, err := strconv.ParseUint(f[2], 10, 32)
	if err != nil {
		return chunk{}, fmt.Errorf("%w: sequence: %w", errMalformed, err)
	}
	total, err := strconv.ParseUint(f[3], 10, 32)
	if err != nil {
		return chunk{}, fmt.Errorf("%w: total: %w", errMalformed, err)
	}
	if total == 0 || total > maxChunks || seq >= total {
		return chunk{}, fmt.Errorf("%w: chunk %d of %d", errMalformed, seq, total)
	}
	if base64.StdEncoding.DecodedLen(len(f[4])) > chunkSize+2 {
		return chunk{}, fmt.Errorf("%w: %d bytes of data", errMalformed, len(f[4]))
	}
	data, err := base64.StdEncoding.DecodeString(f[4])
	if err != nil {
		return chunk{}, fmt.Errorf("%w: data: %w", errMalformed, err)
	}
	if len(data) > chunkSize {
		return chunk{}, fmt.Errorf("%w: %d bytes of data", errMalformed, len(data))
	}
	return chunk{sender: f[0], id: id, seq: int(seq), total: int(total), data: data}, nil
}

// reassembler rebuilds chunked messages. Chunks of one message arrive in
// order on one channel (the bus sends them in one transaction), but a
// receiver keys what it holds by channel, sender and message id, so that
// messages of several publishers may interleave. What it holds is bounded:
// at most maxPending incomplete messages and maxPendingBytes bytes, each
// message for at most pendingTimeout; past those, the oldest is dropped.
// A reassembler is used by one goroutine at a time.
type reassembler struct {
	pending map[partialKey]*partial
	bytes   int
	// onDrop, if set, is told about every incomplete message dropped.
	onDrop func(k partialKey, reason string)
	// The bounds; zero means maxPending, maxPendingBytes and
	// pendingTimeout. Tests lower them.
	maxPending int
	maxBytes   int
	timeout    time.Duration
}

// limits returns the bounds in force.
func (r *reassembler) limits() (pending, bytes int, timeout time.Duration) {
	pending, bytes, timeout = r.maxPending, r.maxBytes, r.timeout
	if pending <= 0 {
		pending = maxPending
	}
	if bytes <= 0 {
		bytes = maxPendingBytes
	}
	if timeout <= 0 {
		timeout = pendingTimeout
	}
	return pending, bytes, timeout
}

// partialKey identifies a message being reassembled.
type partialKey struct {
	channel string
	sender  string
	id      uint64
}

// partial is a message being reassembled.
type partial struct {
	started time.Time
	total   int
	next    int // the seq expected next
	data    []byte
}

// add takes the NOTIFY payload s received at now on channel. It returns the
// message s completes, if any; a payload that is not a valid chunk, or does
// not follow the chunks received before it, is an error (and the message it
// belonged to is dropped).
func (r *reassembler) add(now time.Time, channel, s string) (msg []byte, complete bool, err error) {
	c, err := parseChunk(s)
	if err != nil {
		return nil, false, err
	}
	if c.total == 1 {
		return c.data, true, nil
	}
	maxPending, maxBytes, timeout := r.limits()
	k := partialKey{channel: channel, sender: c.sender, id: c.id}
	p := r.pending[k]
	if c.seq == 0 {
		if p != nil {
			r.drop(k, "restarted")
		}
		r.expire(now, timeout)
		for len(r.pending) >= maxPending {
			r.dropOldest("too many incomplete messages")
		}
		p = &partial{started: now, total: c.total, data: make([]byte, 0, min(c.total, 16)*chunkSize)}
		if r.pending == nil {
			r.pending = make(map[partialKey]*partial)
		}
		r.pending[k] = p
	}
	switch {
	case p == nil:
		return nil, false, fmt.Errorf("%w: chunk %d of %d of message %s/%d without the chunks before it", errMalformed, c.seq, c.total, c.sender, c.id)
	case c.total != p.total || c.seq != p.next:
		r.drop(k, "out of sequence")
		return nil, false, fmt.Errorf("%w: chunk %d of %d of message %s/%d, want chunk %d of %d", errMalformed, c.seq, c.total, c.sender, c.id, p.next, p.total)
	case c.seq < c.total-1 && len(c.data) != chunkSize:
		r.drop(k, "short chunk")
		return nil, false, fmt.Errorf("%w: chunk %d of %d of message %s/%d holds %d bytes, want %d", errMalformed, c.seq, c.total, c.sender, c.id, len(c.data), chunkSize)
	}
	p.data = append(p.data, c.data...)
	p.next++
	r.bytes += len(c.data)
	if p.next == p.total {
		r.remove(k)
		return p.data, true, nil
	}
	for r.bytes > maxBytes && len(r.pending) > 1 {
		r.dropOldest("too many bytes in incomplete messages")
	}
	return nil, false, nil
}

// reset drops every incomplete message: after a reconnect, their missing
// chunks are lost.
func (r *reassembler) reset(reason string) {
	for k := range r.pending {
		r.drop(k, reason)
	}
}

// expire drops the incomplete messages started timeout or more before now.
func (r *reassembler) expire(now time.Time, timeout time.Duration) {
	for k, p := range r.pending {
		if now.Sub(p.started) >= timeout {
			r.drop(k, "timed out")
		}
	}
}

// dropOldest drops the incomplete message started first.
func (r *reassembler) dropOldest(reason string) {
	var (
		oldest partialKey
		first  *partial
	)
	for k, p := range r.pending {
		if first == nil || p.started.Before(first.started) {
			oldest, first = k, p
		}
	}
	if first != nil {
		r.drop(oldest, reason)
	}
}

// drop removes the incomplete message k and reports it.
func (r *reassembler) drop(k partialKey, reason string) {
	r.remove(k)
	if r.onDrop != nil {
		r.onDrop(k, reason)
	}
}

// remove forgets message k.
func (r *reassembler) remove(k partialKey) {
	if p, ok := r.pending[k]; ok {
		r.bytes -= len(p.data)
		delete(r.pending, k)
	}
}
