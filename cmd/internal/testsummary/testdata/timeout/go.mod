module timeout

go 1.26
