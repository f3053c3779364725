/*
 * The control channel between the drover CLI and the local droverd: libqb IPC
 * service "drover". Each request and response is one frame (frame.h) after
 * libqb's own header; the daemon accepts only root and members of the
 * configured group (default "drover").
 */
#ifndef DROVER_CTL_H
#define DROVER_CTL_H

#define DROVER_IPC_NAME "drover"
#define DROVER_IPC_MSG_ENVELOPE 1
/* libqb ring size per connection; a status of 32 nodes is a few KiB. */
#define DROVER_IPC_BUFSIZE (256 * 1024)

#endif
