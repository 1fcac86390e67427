-- Every survey lands in rep_scorecard once, under one rep: per month, the scorecard's surveys,
-- csat_answers and csat_total summed over the reps equal customer_service's summed over the
-- accounts (so CSAT over reps or months, sum(csat_total) / sum(csat_answers), is the same in
-- both). Returns the months that differ (e.g. overlapping dim_customer versions counting a
-- survey twice).
with

scorecard as (

    select
        month,
        sum(surveys) as surveys,
        sum(csat_answers) as csat_answers,
        sum(csat_total) as csat_total

    from {{ ref('rep_scorecard') }}

    group by month

),

service as (

    select
        month,
        sum(surveys) as surveys,
        sum(csat_answers) as csat_answers,
        sum(csat_total) as csat_total

    from {{ ref('customer_service') }}

    group by month

),

final as (

    select
        coalesce(scorecard.month, service.month) as month,
        coalesce(scorecard.surveys, 0) as scorecard_surveys,
        coalesce(service.surveys, 0) as service_surveys,
        coalesce(scorecard.csat_answers, 0) as scorecard_csat_answers,
        coalesce(service.csat_answers, 0) as service_csat_answers,
        coalesce(scorecard.csat_total, 0) as scorecard_csat_total,
        coalesce(service.csat_total, 0) as service_csat_total

    from scorecard

    full outer join service
        on scorecard.month = service.month

)

select * from final
where
    scorecard_surveys <> service_surveys
    or scorecard_csat_answers <> service_csat_answers
    or scorecard_csat_total <> service_csat_total
