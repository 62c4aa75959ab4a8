/* The queue the newest packets of a feedback met (bwe_int.h): their
 * one-way delay over the least one seen lately. The two clocks differ by
 * an unknown offset, which the least delay carries too; what it does not
 * carry is a queue, since a path empties its queues now and then. */
#include "bwe_int.h"

void bwe_queue_init(bwe_queue *q)
{
    *q = (bwe_queue){
        .least_cur_us = INT64_MAX, .least_prev_us = INT64_MAX, .bucket_at_us = INT64_MIN};
}

void bwe_queue_add(bwe_queue *q, int64_t now_us, int64_t send_us, int64_t arrival_us)
{
    /* The least over the current bucket and the one before: a path whose
     * delay changed for good (a new route, a clock that drifts) is read
     * against its new delay within two buckets. */
    if (q->bucket_at_us == INT64_MIN || now_us - q->bucket_at_us >= BWE_QUEUE_BUCKET_US) {
        q->least_prev_us = q->least_cur_us;
        q->least_cur_us = INT64_MAX;
        q->bucket_at_us = now_us;
    }
    int64_t d = arrival_us - send_us;
    if (d < q->least_cur_us)
        q->least_cur_us = d;
    int64_t least = q->least_cur_us < q->least_prev_us ? q->least_cur_us : q->least_prev_us;
    q->newest_us = d - least;
}

int64_t bwe_queue_newest(const bwe_queue *q)
{
    return q->newest_us;
}
