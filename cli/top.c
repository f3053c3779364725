/*
 * `drover top`: the terminal side of the live view (frames: queue_view.c).
 *
 * One connection to droverd carries both the three reads of a frame (status,
 * queue, the last history entries) and a subscription: droverd then sends an
 * event whenever the queue, the nodes or a migration's progress change (at
 * most every 200 ms), and we poll its descriptor together with stdin, so a
 * change shows at once and a key is answered at once. A timer (--interval)
 * redraws anyway: the clock moves, and a daemon that does not know
 * SubscribeRequest is simply polled. When droverd goes away the last frame
 * stays on screen under an error line and we reconnect on each tick.
 *
 * Nothing may be written to stderr while curses owns the terminal: failures
 * are shown in the frame instead (the ctl_conn API reports into a buffer).
 * newterm() rather than initscr(), which exits the process when there is no
 * usable terminal.
 *
 * ncurses's own SIGWINCH handler turns a resize into KEY_RESIZE; the signal
 * also interrupts poll(), so the new size is drawn at once. SIGINT and
 * SIGTERM only set a flag for the loop, so the terminal is always restored.
 */
#include "top.h"

#include <errno.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curses.h>

#include "ctl_client.h"
#include "exitcode.h"
#include "output.h"
#include "queue_view.h"
#include "util.h"

#define TOP_HISTORY_LINES 5
#define TOP_REQUEST_TIMEOUT_MAX_MS 5000
#define TOP_ONCE_HEIGHT 10000

/* The latest answers; a failed read keeps the previous one on screen. */
struct top_data {
	Drover__Envelope *status, *queue, *history, *vms;
	char error[512];
	int exit_code; /* of the first failure of the last fetch, 0 if none */
};

static void top_data_clear(struct top_data *d)
{
	frame_free(d->status);
	frame_free(d->queue);
	frame_free(d->history);
	frame_free(d->vms);
	memset(d, 0, sizeof(*d));
}

static void replace(Drover__Envelope **slot, Drover__Envelope *env)
{
	frame_free(*slot);
	*slot = env;
}

/*
 * One read: 0 and the answer into *slot, or an exit code with the reason in
 * d->error. -1 when the connection is broken (close it).
 */
static int fetch_one(struct ctl_conn *c, const Drover__CtlRequest *req, int timeout_ms,
		     const char *what, struct top_data *d, Drover__Envelope **slot)
{
	Drover__Envelope *env = NULL;
	const Drover__CtlResponse *resp;
	char err[400];
	int r;

	r = ctl_conn_call(c, req, timeout_ms, &env, err, sizeof(err));
	if (r < 0) {
		snprintf(d->error, sizeof(d->error), "%s", err);
		if (!d->exit_code)
			d->exit_code = ctl_client_exit_code(r);
		return -1;
	}
	resp = env->ctl_response;
	if (resp->exit_code != DROVER_EXIT_OK) {
		snprintf(d->error, sizeof(d->error), "%s: %s", what,
			 resp->error && *resp->error ? resp->error : "refused by droverd");
		if (!d->exit_code)
			d->exit_code = resp->exit_code > 0 && resp->exit_code < 256
					   ? resp->exit_code
					   : DROVER_EXIT_SOFTWARE;
		frame_free(env);
		return d->exit_code;
	}
	replace(slot, env);
	return 0;
}

/* Read status, queue and history; false when the connection broke. */
static bool fetch(struct ctl_conn *c, int timeout_ms, struct top_data *d)
{
	Drover__CtlRequest req = DROVER__CTL_REQUEST__INIT;
	Drover__StatusRequest st = DROVER__STATUS_REQUEST__INIT;
	Drover__QueueRequest qr = DROVER__QUEUE_REQUEST__INIT;
	Drover__HistoryRequest hr = DROVER__HISTORY_REQUEST__INIT;
	Drover__VmListRequest vr = DROVER__VM_LIST_REQUEST__INIT;

	d->error[0] = '\0';
	d->exit_code = 0;
	req.req_case = DROVER__CTL_REQUEST__REQ_STATUS;
	req.status = &st;
	if (fetch_one(c, &req, timeout_ms, "status", d, &d->status) < 0)
		return false;
	req.req_case = DROVER__CTL_REQUEST__REQ_QUEUE;
	req.queue = &qr;
	if (fetch_one(c, &req, timeout_ms, "queue", d, &d->queue) < 0)
		return false;
	hr.limit = TOP_HISTORY_LINES;
	req.req_case = DROVER__CTL_REQUEST__REQ_HISTORY;
	req.history = &hr;
	if (fetch_one(c, &req, timeout_ms, "history", d, &d->history) < 0)
		return false;
	req.req_case = DROVER__CTL_REQUEST__REQ_VM_LIST;
	req.vm_list = &vr;
	if (fetch_one(c, &req, timeout_ms, "VM list", d, &d->vms) < 0)
		return false;
	return true;
}

static void fill_input(const struct top_data *d, struct top_input *in)
{
	memset(in, 0, sizeof(*in));
	in->status = d->status ? d->status->ctl_response->status : NULL;
	in->queue = d->queue ? d->queue->ctl_response->queue : NULL;
	in->history = d->history ? d->history->ctl_response->history : NULL;
	in->vms = d->vms ? d->vms->ctl_response->vm_list : NULL;
	in->error = d->error[0] ? d->error : NULL;
	in->now = time(NULL);
}

static int env_int(const char *name, int min, int max, int dflt)
{
	const char *s = getenv(name);
	uint64_t v;

	if (!s || parse_u64(s, (uint64_t)min, (uint64_t)max, &v) < 0)
		return dflt;
	return (int)v;
}

static int top_once(const struct top_options *o)
{
	_cleanup_ctl_conn_ struct ctl_conn *c = NULL;
	struct top_data d = {0};
	struct top_input in;
	struct top_frame f;
	char err[400];
	int r;

	r = ctl_conn_open(&c, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "drover: %s\n", err);
		return ctl_client_exit_code(r);
	}
	fetch(c, o->timeout_ms, &d);
	if (d.exit_code)
		fprintf(stderr, "drover: %s\n", d.error);
	if (d.status && o->json) {
		_cleanup_json_ struct json_object *body = json_object_new_object(), *env = NULL;

		fill_input(&d, &in);
		json_object_object_add(body, "status", output_status_json(in.status));
		json_object_object_add(body, "queue",
				       in.queue ? queue_view_queue_json(in.queue) : NULL);
		json_object_object_add(body, "history",
				       in.history ? queue_view_history_json(in.history) : NULL);
		env = output_json_envelope(body, o->command);
		output_json_print(env, stdout);
	} else if (d.status) {
		fill_input(&d, &in);
		r = queue_view_top_render(&in, env_int("COLUMNS", 20, 1000, 80),
					  env_int("LINES", 1, TOP_ONCE_HEIGHT, TOP_ONCE_HEIGHT),
					  &f);
		if (r == 0) {
			queue_view_top_print(&f, stdout);
			queue_view_top_frame_clear(&f);
		}
	}
	r = d.exit_code;
	top_data_clear(&d);
	return r;
}

/* ---- interactive ---- */

static volatile sig_atomic_t top_quit;

static void on_quit_signal(int sig)
{
	(void)sig;
	top_quit = 1;
}

enum { PAIR_ALERT = 1 };

static void draw(const struct top_data *d, bool subscribed)
{
	struct top_input in;
	struct top_frame f;
	int h, w;

	getmaxyx(stdscr, h, w);
	erase();
	fill_input(d, &in);
	in.hint = subscribed ? "live  q: quit" : "polling  q: quit";
	if (queue_view_top_render(&in, w, h, &f) < 0) {
		mvaddnstr(0, 0, "drover top: the terminal is too small", w);
		refresh();
		return;
	}
	for (int i = 0; i < f.n_lines; i++) {
		attr_t a = A_NORMAL;

		switch (f.kinds[i]) {
		case TOP_LINE_HEADER:
			a = A_REVERSE;
			break;
		case TOP_LINE_TITLE:
			a = A_BOLD;
			break;
		case TOP_LINE_ALERT:
			a = A_BOLD | (has_colors() ? COLOR_PAIR(PAIR_ALERT) : A_STANDOUT);
			break;
		case TOP_LINE_MORE:
			a = A_DIM;
			break;
		case TOP_LINE_PLAIN:
			break;
		}
		attrset(a);
		/* The bottom-right cell makes curses scroll: one column less there. */
		mvaddnstr(i, 0, f.lines[i], i == h - 1 ? w - 1 : w);
		if (f.kinds[i] == TOP_LINE_HEADER)
			for (int x = (int)strlen(f.lines[i]); x < w; x++)
				mvaddch(i, x, ' ');
	}
	attrset(A_NORMAL);
	queue_view_top_frame_clear(&f);
	refresh();
}

/* Read every event that is there; false when the connection broke. */
static bool drain_events(struct ctl_conn *c, struct top_data *d)
{
	for (int n = 0; n < 1000; n++) {
		Drover__Envelope *env = NULL;
		char err[400];
		int r = ctl_conn_event_recv(c, 0, &env, err, sizeof(err));

		if (r == -EAGAIN)
			return true;
		if (r < 0) {
			snprintf(d->error, sizeof(d->error), "%s", err);
			return false;
		}
		frame_free(env); /* an event only says "look again" */
	}
	return true;
}

static int top_interactive(const struct top_options *o)
{
	struct sigaction sa = {0}, old_int, old_term;
	struct ctl_conn *c = NULL;
	struct top_data d = {0};
	bool subscribed = false, refetch = true;
	uint64_t next_tick = 0;
	SCREEN *scr;

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "drover: 'top' needs a terminal; 'drover top --once' prints one "
				"frame as text\n");
		return DROVER_EXIT_USAGE;
	}
	setlocale(LC_ALL, "");
	scr = newterm(NULL, stdout, stdin);
	if (!scr) {
		fprintf(stderr, "drover: cannot use the terminal (TERM=%s)\n",
			getenv("TERM") ? getenv("TERM") : "");
		return DROVER_EXIT_ERROR;
	}
	set_term(scr);
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	curs_set(0);
	if (has_colors()) {
		start_color();
		use_default_colors();
		init_pair(PAIR_ALERT, COLOR_RED, -1);
	}
	sa.sa_handler = on_quit_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	while (!top_quit) {
		struct pollfd pfd[2];
		nfds_t n = 1;
		uint64_t now = now_ms();
		int timeout, ch;

		if (now >= next_tick) {
			refetch = true;
			next_tick = now + (uint64_t)o->interval_ms;
		}
		if (refetch) {
			char err[400];

			refetch = false;
			if (!c) {
				subscribed = false;
				if (ctl_conn_open(&c, err, sizeof(err)) < 0) {
					snprintf(d.error, sizeof(d.error), "%s", err);
					c = NULL;
				} else {
					int r =
					    ctl_conn_subscribe(c, o->timeout_ms, err, sizeof(err));

					if (r == 0) {
						subscribed = true;
					} else if (r < 0) {
						snprintf(d.error, sizeof(d.error), "%s", err);
						ctl_conn_close(c);
						c = NULL;
					}
				}
			}
			if (c && !fetch(c, o->timeout_ms, &d)) {
				ctl_conn_close(c);
				c = NULL;
				subscribed = false;
			}
			draw(&d, subscribed && c);
		}

		pfd[0] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
		if (c && subscribed) {
			pfd[1] = (struct pollfd){.fd = ctl_conn_fd(c), .events = POLLIN};
			if (pfd[1].fd >= 0)
				n = 2;
		}
		now = now_ms();
		timeout = next_tick > now ? (int)(next_tick - now) : 0;
		if (poll(pfd, n, timeout) < 0 && errno != EINTR)
			break;
		while ((ch = getch()) != ERR) {
			if (ch == 'q' || ch == 'Q')
				top_quit = 1;
			else if (ch == KEY_RESIZE || ch == 12 /* Ctrl-L */)
				draw(&d, subscribed && c);
			else if (ch == 'r' || ch == 'R' || ch == ' ')
				refetch = true;
		}
		if (n == 2 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			if (!drain_events(c, &d)) {
				ctl_conn_close(c);
				c = NULL;
				subscribed = false;
				draw(&d, false);
			} else {
				refetch = true;
			}
		}
	}

	endwin();
	delscreen(scr);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	ctl_conn_close(c);
	top_data_clear(&d);
	return DROVER_EXIT_OK;
}

int top_run(const struct top_options *o)
{
	struct top_options opt = *o;

	if (opt.timeout_ms > TOP_REQUEST_TIMEOUT_MAX_MS && !opt.once)
		opt.timeout_ms = TOP_REQUEST_TIMEOUT_MAX_MS;
	if (opt.once)
		return top_once(&opt);
	return top_interactive(&opt);
}
