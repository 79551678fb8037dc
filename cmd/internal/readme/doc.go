// Package readme tests the README's commands: each command of its shell
// blocks is run as written on a fresh clone of the repository, or listed
// with the reason it is not, so that the front door stays true. It has no
// code of its own, only tests.
package readme
