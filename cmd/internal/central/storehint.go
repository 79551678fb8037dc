package central

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"quiniela/lottery/logattr"
)

// openStoreFailure is the detail of an open_store failure: the store's path
// and the error, and for a permission error what to do about it, which in a
// Docker deployment is about a folder on the host that the central cannot
// name.
func openStoreFailure(path string, err error) []any {
	detail := []any{logattr.ResultKey, logattr.Fail, logattr.PathKey, path, logattr.ErrorKey, err}
	if !errors.Is(err, fs.ErrPermission) {
		return detail
	}
	return append(detail, "hint", permissionHint(path, os.Getuid(), inDocker()))
}

func permissionHint(path string, uid int, docker bool) string {
	dir := filepath.Dir(path)
	if docker {
		return fmt.Sprintf("the host folder mounted at %s (.storage beside the Compose file by default) must be writable by uid %d, "+
			"which runs the central - write the Compose file again with generar-compose.sh (run as root it gives the folder to that uid, "+
			"run as another user it runs the containers as that user), or as root run chown -R %d .storage", dir, uid, uid)
	}
	return fmt.Sprintf("%s and the folder %s must be writable by uid %d, which runs the central - as root run chown -R %d %s, "+
		"or run the central as their owner", path, dir, uid, uid, dir)
}

// inDocker tells whether this process runs in a Docker container.
func inDocker() bool {
	_, err := os.Stat("/.dockerenv")
	return err == nil
}
