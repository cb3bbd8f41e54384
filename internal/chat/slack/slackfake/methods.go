package slackfake

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

type answer map[string]any

func fail(e string) answer { return answer{"ok": false, "error": e} }

type methodFunc func(s *Server, c *Call) answer

// methods are the Web API methods the fake implements; anything else is
// answered "unknown_method" as Slack does.
var methods = map[string]methodFunc{
	"auth.test":                    (*Server).authTest,
	"chat.postMessage":             (*Server).postMessage,
	"chat.update":                  (*Server).updateMessage,
	"chat.postEphemeral":           (*Server).postEphemeral,
	"views.open":                   (*Server).openView,
	"usergroups.users.list":        (*Server).groupMembers,
	"users.info":                   (*Server).userInfo,
	"users.lookupByEmail":          (*Server).userByEmail,
	"files.getUploadURLExternal":   (*Server).uploadURL,
	"files.completeUploadExternal": (*Server).completeUpload,
	"apps.connections.open":        (*Server).openConnection,
}

const maxRequest = 8 << 20

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxRequest))
	c := Call{Method: r.PathValue("method"), Body: body, Form: url.Values{}}
	media, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var decodeErr string
	if media == "application/json" {
		if len(body) > 0 && json.Unmarshal(body, &c.JSON) != nil {
			decodeErr = "invalid_json"
		}
	} else if form, err := url.ParseQuery(string(body)); err == nil {
		c.Form = form
	} else {
		decodeErr = "invalid_form_data"
	}
	for k, v := range r.URL.Query() {
		c.Form[k] = append(c.Form[k], v...)
	}
	c.Token = bearer(r, c.Form)
	c.Form.Del("token")

	s.mu.Lock()
	status, retryAfter, a := s.answerLocked(&c, decodeErr)
	c.Status = status
	if e, ok := a["error"].(string); ok {
		c.Error = e
	}
	s.recordLocked(c)
	s.mu.Unlock()

	if retryAfter >= 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	if status != http.StatusOK && status != http.StatusTooManyRequests {
		http.Error(w, http.StatusText(status), status)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(a)
}

// answerLocked decides the answer: auth first, then injected faults, then
// the method itself. retryAfter < 0 means no Retry-After header.
func (s *Server) answerLocked(c *Call, decodeErr string) (status, retryAfter int, a answer) {
	want := BotToken
	if c.Method == "apps.connections.open" {
		want = AppToken
	}
	switch {
	case c.Token == "":
		return http.StatusOK, -1, fail("not_authed")
	case c.Token != want:
		return http.StatusOK, -1, fail("invalid_auth")
	case decodeErr != "":
		return http.StatusOK, -1, fail(decodeErr)
	}
	if f := s.takeFaultLocked(c.Method); f != nil {
		switch {
		case f.status == http.StatusTooManyRequests:
			return f.status, f.retryAfter, fail("ratelimited")
		case f.status != 0:
			return f.status, -1, fail(http.StatusText(f.status))
		default:
			return http.StatusOK, -1, fail(f.slackErr)
		}
	}
	m, ok := methods[c.Method]
	if !ok {
		return http.StatusOK, -1, fail("unknown_method")
	}
	return http.StatusOK, -1, m(s, c)
}

func (s *Server) nextIDLocked(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%06d", prefix, s.seq)
}

func (s *Server) nextTSLocked() string {
	s.seq++
	return fmt.Sprintf("1700000000.%06d", s.seq)
}

func (s *Server) authTest(*Call) answer {
	return answer{"ok": true, "url": "https://fake.slack.com/", "team": "Fake", "user": "backout",
		"team_id": TeamID, "user_id": BotUser, "bot_id": "BFAKE"}
}

func (s *Server) postMessage(c *Call) answer {
	ch := c.Param("channel")
	if ch == "" {
		return fail("channel_not_found")
	}
	if c.Param("text") == "" && c.Param("blocks") == "" {
		return fail("no_text")
	}
	m := &Message{Channel: ch, TS: s.nextTSLocked(), Thread: c.Param("thread_ts"), Text: c.Param("text")}
	if b := c.Param("blocks"); b != "" {
		m.Blocks = json.RawMessage(b)
	}
	s.messages[ch+"/"+m.TS] = m
	msg := answer{"type": "message", "text": m.Text, "ts": m.TS, "bot_id": "BFAKE"}
	if m.Thread != "" {
		msg["thread_ts"] = m.Thread
	}
	return answer{"ok": true, "channel": ch, "ts": m.TS, "message": msg}
}

func (s *Server) updateMessage(c *Call) answer {
	ch, ts := c.Param("channel"), c.Param("ts")
	m, ok := s.messages[ch+"/"+ts]
	if !ok {
		return fail("message_not_found")
	}
	m.Text = c.Param("text")
	m.Blocks = nil
	if b := c.Param("blocks"); b != "" {
		m.Blocks = json.RawMessage(b)
	}
	m.Updates++
	return answer{"ok": true, "channel": ch, "ts": ts, "text": m.Text}
}

func (s *Server) postEphemeral(c *Call) answer {
	if c.Param("channel") == "" {
		return fail("channel_not_found")
	}
	if c.Param("user") == "" {
		return fail("user_not_in_channel")
	}
	return answer{"ok": true, "message_ts": s.nextTSLocked()}
}

func (s *Server) openView(c *Call) answer {
	if c.Param("trigger_id") == "" {
		return fail("invalid_arguments")
	}
	view, ok := c.JSON["view"].(map[string]any)
	if !ok || view["type"] != "modal" || view["title"] == nil {
		return fail("invalid_arguments")
	}
	stored := map[string]any{}
	for k, v := range view {
		stored[k] = v
	}
	stored["id"] = s.nextIDLocked("V")
	stored["team_id"] = TeamID
	stored["hash"] = s.nextIDLocked("hash.")
	id := stored["id"].(string)
	s.views[id] = stored
	s.viewIDs = append(s.viewIDs, id)
	return answer{"ok": true, "view": stored}
}

func (s *Server) groupMembers(c *Call) answer {
	members, ok := s.groups[c.Param("usergroup")]
	if !ok {
		return fail("no_such_subteam")
	}
	return answer{"ok": true, "users": append([]string{}, members...)}
}

func (s *Server) userInfo(c *Call) answer {
	id := c.Param("user")
	name, ok := s.users[id]
	if !ok {
		return fail("user_not_found")
	}
	return answer{"ok": true, "user": answer{"id": id, "team_id": TeamID, "name": name, "real_name": name,
		"profile": answer{"real_name": name, "display_name": name}}}
}

func (s *Server) userByEmail(c *Call) answer {
	email := c.Param("email")
	for id, e := range s.emails {
		if e == email {
			return answer{"ok": true, "user": answer{"id": id, "team_id": TeamID, "name": s.users[id],
				"profile": answer{"email": e}}}
		}
	}
	return fail("users_not_found")
}

func (s *Server) uploadURL(c *Call) answer {
	name := c.Param("filename")
	n, err := strconv.Atoi(c.Param("length"))
	if name == "" || err != nil || n <= 0 {
		return fail("invalid_arguments")
	}
	id := s.nextIDLocked("F")
	s.files[id] = &file{name: name, length: n}
	return answer{"ok": true, "upload_url": s.srv.URL + "/upload/" + id, "file_id": id}
}

func (s *Server) completeUpload(c *Call) answer {
	var files []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if err := c.Decode("files", &files); err != nil || len(files) == 0 {
		return fail("invalid_arguments")
	}
	out := make([]answer, 0, len(files))
	for _, f := range files {
		stored, ok := s.files[f.ID]
		if !ok || stored.content == nil {
			return fail("file_not_found")
		}
		if len(stored.content) != stored.length {
			// Slack takes the length given to files.getUploadURLExternal
			// as the file's size; a different upload is a client bug.
			return fail("invalid_arguments")
		}
		stored.complete = true
		out = append(out, answer{"id": f.ID, "title": f.Title})
	}
	return answer{"ok": true, "files": out}
}

func (s *Server) openConnection(*Call) answer {
	return answer{"ok": true, "url": "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/socket"}
}

// serveUpload receives the bytes of a file: multipart (field "file", as
// slack-go sends it) or a raw body, both of which Slack accepts.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("file")
	c := Call{Method: "upload", Form: url.Values{"file_id": {id}}, Token: bearer(r, nil)}
	media, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if media == "multipart/form-data" {
		if f, _, err := r.FormFile("file"); err == nil {
			c.Body, _ = io.ReadAll(io.LimitReader(f, maxRequest))
			f.Close()
		}
	} else {
		c.Body, _ = io.ReadAll(io.LimitReader(r.Body, maxRequest))
	}
	s.mu.Lock()
	stored, ok := s.files[id]
	status := http.StatusOK
	if f := s.takeFaultLocked("upload"); f != nil && f.status != 0 {
		status = f.status
	} else if !ok {
		status = http.StatusNotFound
	} else {
		stored.content = c.Body
	}
	c.Status = status
	s.recordLocked(c)
	s.mu.Unlock()
	if status != http.StatusOK {
		http.Error(w, http.StatusText(status), status)
		return
	}
	fmt.Fprintf(w, "OK - %d", len(c.Body))
}
