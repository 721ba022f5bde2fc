#include <stdio.h>
#include "board.h"
int main(void)
{
    printf("hello from %s, stack %u\n", board_name(), (unsigned)board_stack_peak());
    uint32_t t0 = board_millis();
    volatile uint32_t spin = 0;
    while (board_millis() - t0 < 200u) { spin++; }
    printf("200 ms later, spins %u\n", (unsigned)spin);
    return 7;
}
