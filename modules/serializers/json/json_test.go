package json_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bentocache/bento/internal/serialtest"
	"github.com/bentocache/bento/modules/serializers/json"
)

// TestSerializer_HostileL2 reads hostile JSON from L2, with this module and
// with a store's default serializer (the same encoding/json underneath):
// encoding/json has no length headers to trust and limits nesting to 10,000,
// so each read is a miss with an error event, deletes the entry, and
// allocates in proportion to the input.
func TestSerializer_HostileL2(t *testing.T) {
	deep := strings.Repeat("[", 16<<20) + strings.Repeat("]", 16<<20)
	inputs := map[string][]byte{
		"Nested16MiB":           []byte(deep),
		"Nested16MiBInEnvelope": []byte(`{"value":` + deep + `,"logicalExpiration":1,"createdAt":1}`),
		"Truncated":             []byte(`{"value":[1,2,`),
		"Trailing":              []byte(`{"value":1,"logicalExpiration":1,"createdAt":1} garbage`),
		"NotAnEntry":            []byte(`[1,2,3]`),
	}
	proportional := func(n int) uint64 { return 8*uint64(n) + 1<<20 }
	t.Run("Module", func(t *testing.T) { serialtest.HostileL2(t, json.Serializer{}, inputs, proportional) })
	t.Run("Default", func(t *testing.T) { serialtest.HostileL2(t, nil, inputs, proportional) })
}

// TestSerializer_Depth: encoding/json refuses input nested past 10,000
// levels without walking the stack down.
func TestSerializer_Depth(t *testing.T) {
	deep := bytes.Repeat([]byte("["), 10_001)
	var v any
	err := json.Serializer{}.Unmarshal(deep, &v)
	if err == nil || !strings.Contains(err.Error(), "exceeded max depth") {
		t.Errorf("Unmarshal(10001 nested arrays) = %v; want an error about the max depth", err)
	}
}
