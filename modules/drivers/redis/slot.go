package redis

import "strings"

// slotCount is the number of hash slots of a Redis Cluster.
const slotCount = 16384

// slot returns the Redis Cluster hash slot of key: CRC16 (XMODEM) of the
// key, or of its hash tag, modulo 16384. The hash tag is the part between
// the first "{" and the first "}" after it, when that part is not empty;
// keys that share a tag share a slot. go-redis computes this internally but
// does not export it, and the driver needs it to group keys per slot so
// that no multi-key command crosses slots.
func slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for k := 0; k < len(key); k++ {
		crc = crc<<8 ^ crc16Table[byte(crc>>8)^key[k]]
	}
	return int(crc) % slotCount
}

// crc16Table is the table of CRC16-CCITT (XMODEM: polynomial 0x1021,
// initial value 0), the checksum Redis Cluster hashes keys with.
var crc16Table = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()
