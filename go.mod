module quiniela

go 1.26.0

require (
	github.com/caarlos0/env/v11 v11.4.2
	github.com/joho/godotenv v1.5.1
	github.com/thejerf/suture/v4 v4.0.6
	golang.org/x/sync v0.25.0
)
