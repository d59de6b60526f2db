// Package standard blank-imports every module that ships with bento, as
// caddy's modules/standard does for Caddy: import it to have them all
// registered.
package standard

import (
	_ "github.com/bentocache/bento/caddyfile"
	_ "github.com/bentocache/bento/modules/adapters/mysql"
	_ "github.com/bentocache/bento/modules/adapters/postgres"
	_ "github.com/bentocache/bento/modules/adapters/sqlite"
	_ "github.com/bentocache/bento/modules/admin"
	_ "github.com/bentocache/bento/modules/buses/memory"
	_ "github.com/bentocache/bento/modules/buses/nats"
	_ "github.com/bentocache/bento/modules/buses/postgres"
	_ "github.com/bentocache/bento/modules/buses/redis"
	_ "github.com/bentocache/bento/modules/drivers/database"
	_ "github.com/bentocache/bento/modules/drivers/dynamodb"
	_ "github.com/bentocache/bento/modules/drivers/file"
	_ "github.com/bentocache/bento/modules/drivers/memory"
	_ "github.com/bentocache/bento/modules/drivers/natskv"
	_ "github.com/bentocache/bento/modules/drivers/redis"
	_ "github.com/bentocache/bento/modules/http"
	_ "github.com/bentocache/bento/modules/lockers/postgres"
	_ "github.com/bentocache/bento/modules/lockers/redis"
	_ "github.com/bentocache/bento/modules/serializers/json"
	_ "github.com/bentocache/bento/modules/serializers/msgpack"
)
