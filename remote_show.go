package refit

import (
	"net/url"
	"regexp"
	"strings"
)

// A remote path may carry credentials: a pre-signed URL's query string holds its
// signature (X-Amz-Signature, a SAS token, ...), and https://user:password@host/ holds a
// password. Whatever Refit prints - errors, reports, JSON - names remote paths through
// ShowPath, and the command line passes its output through RedactURLs.

// redactedQuery replaces a URL's query string where it is shown.
const redactedQuery = "REDACTED"

// ShowPath returns name as Refit prints it: a local path unchanged, a URL without its
// user information, and with its query string (and fragment) replaced by
// "?REDACTED". A URL that does not parse is cut at the first '?' or '#'.
func ShowPath(name string) string {
	if !IsRemote(name) {
		return name
	}
	u, err := url.Parse(name)
	if err != nil {
		return showUnparsed(name)
	}
	query := u.RawQuery != "" || u.ForceQuery || u.Fragment != ""
	if !query && u.User == nil {
		return name // as given, escapes and all
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	s := u.String()
	if query {
		s += "?" + redactedQuery
	}
	return s
}

// showUnparsed redacts a URL that url.Parse refuses: no user information (the part of
// the authority before '@') and nothing from the first '?' or '#' on.
func showUnparsed(name string) string {
	scheme, rest, _ := strings.Cut(name, "://")
	query := false
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest, query = rest[:i], true
	}
	host, p, slash := strings.Cut(rest, "/")
	if i := strings.LastIndex(host, "@"); i >= 0 {
		host = host[i+1:]
	}
	s := scheme + "://" + host
	if slash {
		s += "/" + p
	}
	if query {
		s += "?" + redactedQuery
	}
	return s
}

// urlInText finds URLs of the schemes Refit reads in free text: up to whitespace or a
// quote, as error messages and JSON strings delimit them.
var urlInText = regexp.MustCompile(`(?i)\b(?:s3|https?)://[^\s"'<>` + "`" + `]+`)

// RedactURLs returns s with every s3://, https:// and http:// URL in it shown as
// ShowPath shows it.
func RedactURLs(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlInText.ReplaceAllStringFunc(s, func(u string) string {
		// Punctuation after a URL ("refit: URL: cause") is the sentence's, not the URL's.
		trimmed := strings.TrimRight(u, ":;,.)]")
		return ShowPath(trimmed) + u[len(trimmed):]
	})
}
