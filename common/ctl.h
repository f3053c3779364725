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
/*
 * libqb ring size per connection. A status of 32 nodes is a few KiB; a VM
 * list of DROVER_MAX_VMS (8192) with their reasons is about 2.5 MiB. The
 * server never sends more than DROVER_CTL_FRAME_MAX in one answer: libqb's
 * client copies whatever message arrives into its buffer, so an answer
 * larger than the ring would overrun the CLI's.
 */
#define DROVER_IPC_BUFSIZE (4 * 1024 * 1024)
#define DROVER_CTL_FRAME_MAX (DROVER_IPC_BUFSIZE - 64 * 1024)

#endif
