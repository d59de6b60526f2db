package bench

// User is the value every workload caches: a small struct, as a real cache
// holds, that each peer encodes its own way on its way to Redis.
type User struct {
	ID    int64  `json:"id" msgpack:"id"`
	Name  string `json:"name" msgpack:"name"`
	Email string `json:"email" msgpack:"email"`
}

// NewUser returns the User cached under key number i.
func NewUser(i int) User {
	return User{ID: int64(i), Name: "Ada Lovelace", Email: "ada@example.com"}
}
