// Package all registers every format Refit supports; import it for its side effects.
package all
