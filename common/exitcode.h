/*
 * Exit codes of the drover CLI. They are Pacemaker's crm_exit_t numbers, so
 * scripts written against crm_resource/crm_node read them the same way.
 * CtlResponse.exit_code carries them from droverd to the CLI.
 */
#ifndef DROVER_EXITCODE_H
#define DROVER_EXITCODE_H

enum drover_exit {
	DROVER_EXIT_OK = 0,
	DROVER_EXIT_ERROR = 1,          /* generic failure */
	DROVER_EXIT_INVALID_PARAM = 2,  /* a parameter is not valid here */
	DROVER_EXIT_USAGE = 64,         /* command line usage error */
	DROVER_EXIT_DATAERR = 65,       /* bad input data */
	DROVER_EXIT_UNAVAILABLE = 69,   /* service unavailable */
	DROVER_EXIT_SOFTWARE = 70,      /* internal error */
	DROVER_EXIT_CONFIG = 78,        /* bad configuration */
	DROVER_EXIT_INSUFFICIENT_PRIV = 4,
	DROVER_EXIT_NOT_CONNECTED = 102,
	DROVER_EXIT_NOSUCH = 105,       /* no such node/VM */
	DROVER_EXIT_QUORUM = 106,       /* no quorum */
	DROVER_EXIT_UNSAFE = 107,       /* refused: unsafe */
	DROVER_EXIT_EXISTS = 108,       /* already exists */
	DROVER_EXIT_TIMEOUT = 124,
};

#endif
