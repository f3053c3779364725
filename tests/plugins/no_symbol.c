/* Test plugin: a shared object without the drover_plugin symbol. */
#include "plugin.h"

DROVER_PLUGIN_EXPORT const int not_a_drover_plugin = 1;
