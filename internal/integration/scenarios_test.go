package integration_test

import (
	"context"
	"testing"

	"github.com/bentocache/bento"
)

// scenario is a coherence scenario: entries every instance holds,
// then writes on one instance and the state every instance must then read.
type scenario struct {
	name  string
	seed  []seed
	steps []step
}

// coherenceScenarios are the writes of BEHAVIOUR.md ("Three instances on one
// L2 and bus") with the state each must leave on every instance.
func coherenceScenarios() []scenario {
	tagged := []seed{
		{key: "t1", value: "v1", tags: []string{"team:7"}},
		{key: "t2", value: "v2", tags: []string{"team:7", "team:8"}},
		{key: "u", value: "v3", tags: []string{"team:8"}},
		{key: "plain", value: "v4"},
	}
	nested := []seed{
		{key: "k", value: "root"},
		{ns: "users", key: "k", value: "users"},
		{ns: "users:posts", key: "k", value: "posts"},
		{ns: "usersX", key: "k", value: "usersX"},
	}
	return []scenario{
		{
			name: "Set",
			seed: []seed{{key: "k", value: "v1"}},
			steps: []step{{
				does: `Set(ctx, "k", "v2")`,
				act:  func(ctx context.Context, m *bento.Bento) error { return m.Default().Set(ctx, "k", "v2") },
				want: []want{fresh("", "k", "v2")},
			}, {
				by:   2,
				does: `Namespace("users").Set(ctx, "k", "v3")`,
				act:  func(ctx context.Context, m *bento.Bento) error { return m.Namespace("users").Set(ctx, "k", "v3") },
				want: []want{fresh("", "k", "v2"), fresh("users", "k", "v3")},
			}},
		},
		{
			name: "Delete",
			seed: []seed{{key: "k", value: "v1"}, {key: "other", value: "v2"}},
			steps: []step{{
				does: `Delete(ctx, "k")`,
				act:  func(ctx context.Context, m *bento.Bento) error { return deleted(m.Default().Delete(ctx, "k")) },
				want: []want{missing("", "k"), fresh("", "other", "v2")},
			}},
		},
		{
			name: "DeleteMany",
			seed: []seed{{key: "k1", value: "v1"}, {key: "k2", value: "v2"}, {key: "k3", value: "v3"}},
			steps: []step{{
				by:   1,
				does: `DeleteMany(ctx, ["k1" "k2"])`,
				act: func(ctx context.Context, m *bento.Bento) error {
					return deleted(m.Default().DeleteMany(ctx, []string{"k1", "k2"}))
				},
				want: []want{missing("", "k1"), missing("", "k2"), fresh("", "k3", "v3")},
			}},
		},
		{
			name: "Expire",
			seed: []seed{{key: "k", value: "v1"}, {key: "other", value: "v2"}},
			steps: []step{{
				does: `Expire(ctx, "k")`,
				act:  func(ctx context.Context, m *bento.Bento) error { return m.Default().Expire(ctx, "k") },
				want: []want{stale("", "k", "v1"), fresh("", "other", "v2")},
			}},
		},
		{
			name: "ClearNamespace",
			seed: nested,
			steps: []step{{
				does: `Namespace("users").Clear(ctx)`,
				act:  func(ctx context.Context, m *bento.Bento) error { return m.Namespace("users").Clear(ctx) },
				want: []want{
					missing("users", "k"), missing("users:posts", "k"),
					fresh("", "k", "root"), fresh("usersX", "k", "usersX"),
				},
			}},
		},
		{
			name: "ClearRoot",
			seed: nested,
			steps: []step{{
				by:   2,
				does: `Default().Clear(ctx)`,
				act:  func(ctx context.Context, m *bento.Bento) error { return m.Default().Clear(ctx) },
				want: []want{missing("", "k"), missing("users", "k"), missing("users:posts", "k"), missing("usersX", "k")},
			}},
		},
		{
			name: "DeleteByTag",
			seed: tagged,
			steps: []step{{
				does: `DeleteByTag(ctx, "team:7")`,
				act:  func(ctx context.Context, m *bento.Bento) error { return m.Default().DeleteByTag(ctx, "team:7") },
				want: []want{missing("", "t1"), missing("", "t2"), fresh("", "u", "v3"), fresh("", "plain", "v4")},
			}, {
				// An entry written after the invalidation, by another
				// instance, is not affected.
				by:   1,
				does: `Set(ctx, "t1", "again", Tags("team:7"))`,
				act: func(ctx context.Context, m *bento.Bento) error {
					return m.Default().Set(ctx, "t1", "again", bento.Tags("team:7"))
				},
				want: []want{fresh("", "t1", "again"), missing("", "t2")},
			}},
		},
		{
			name: "ExpireByTag",
			seed: tagged,
			steps: []step{{
				does: `ExpireByTag(ctx, "team:7")`,
				act:  func(ctx context.Context, m *bento.Bento) error { return m.Default().ExpireByTag(ctx, "team:7") },
				want: []want{stale("", "t1", "v1"), stale("", "t2", "v2"), fresh("", "u", "v3"), fresh("", "plain", "v4")},
			}, {
				by:   2,
				does: `Set(ctx, "t1", "again", Tags("team:7"))`,
				act: func(ctx context.Context, m *bento.Bento) error {
					return m.Default().Set(ctx, "t1", "again", bento.Tags("team:7"))
				},
				want: []want{fresh("", "t1", "again"), stale("", "t2", "v2")},
			}},
		},
	}
}

// play plays sc on instances, three instances of one store on one L2 and
// bus.
func (sc scenario) play(t *testing.T, instances []*node) {
	seedAll(t, instances, sc.seed)
	for _, s := range sc.steps {
		actor := instances[s.by]
		if err := s.act(t.Context(), actor.m); err != nil {
			t.Fatalf("%s: %s = %v; want <nil>", actor.name, s.does, err)
		}
		after := actor.name + "." + s.does
		expect(t, instances, after, s.want...)
		if t.Failed() {
			t.FailNow() // the next step would start from an unknown state
		}
	}
}
