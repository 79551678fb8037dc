// What every service of the central's tree shares, after syncthing's
// lib/svcutil: the one way to say a service is done for good.

package supervisor

import (
	"fmt"

	"github.com/thejerf/suture/v4"
)

// doneForGood is what a service returns when it has stopped and must not
// be restarted: suture counts a plain nil as a failure and restarts the
// service. cause, when not nil, stays in the chain (errors.Is and As see
// it) and in the message, after suture's own words.
func doneForGood(cause error) error {
	if cause == nil {
		return suture.ErrDoNotRestart
	}
	return fmt.Errorf("%w: %w", suture.ErrDoNotRestart, cause)
}
