-- Service quality per account and month: tickets opened and resolved, first-response and
-- resolution time, CSAT and NPS. A row for every month in which the account opened a ticket,
-- had a ticket resolved or answered a survey.
with

tickets as (

    select * from {{ ref('int_tickets_timed') }}

),

surveys as (

    select * from {{ ref('int_surveys_scored') }}

),

tickets_opened_per_month as (

    select
        account_id,
        opened_month as month,
        count(*) as tickets_opened,
        avg(first_response_hours) as avg_first_response_hours,
        -- ordered-set aggregates ignore nulls: only resolved tickets count
        percentile_cont(0.5) within group (order by resolution_hours) as median_resolution_hours

    from tickets

    where opened_month is not null

    group by
        account_id,
        opened_month

),

tickets_resolved_per_month as (

    select
        account_id,
        resolved_month as month,
        count(*) as tickets_resolved

    from tickets

    where resolved_month is not null

    group by
        account_id,
        resolved_month

),

surveys_per_month as (

    select
        account_id,
        submitted_month as month,
        count(*) as surveys,
        avg(csat) as csat_avg,
        count(*) filter (where nps_category = 'promoter') as promoters,
        count(*) filter (where nps_category = 'passive') as passives,
        count(*) filter (where nps_category = 'detractor') as detractors

    from surveys

    where submitted_month is not null

    group by
        account_id,
        submitted_month

),

account_months as (

    select account_id, month from tickets_opened_per_month
    union
    select account_id, month from tickets_resolved_per_month
    union
    select account_id, month from surveys_per_month

),

joined as (

    select
        account_months.account_id,
        account_months.month,
        coalesce(tickets_opened_per_month.tickets_opened, 0) as tickets_opened,
        coalesce(tickets_resolved_per_month.tickets_resolved, 0) as tickets_resolved,
        tickets_opened_per_month.avg_first_response_hours,
        tickets_opened_per_month.median_resolution_hours,
        coalesce(surveys_per_month.surveys, 0) as surveys,
        surveys_per_month.csat_avg,
        coalesce(surveys_per_month.promoters, 0) as promoters,
        coalesce(surveys_per_month.passives, 0) as passives,
        coalesce(surveys_per_month.detractors, 0) as detractors

    from account_months

    left join tickets_opened_per_month
        on
            account_months.account_id = tickets_opened_per_month.account_id
            and account_months.month = tickets_opened_per_month.month

    left join tickets_resolved_per_month
        on
            account_months.account_id = tickets_resolved_per_month.account_id
            and account_months.month = tickets_resolved_per_month.month

    left join surveys_per_month
        on
            account_months.account_id = surveys_per_month.account_id
            and account_months.month = surveys_per_month.month

),

final as (

    select
        cast(account_id as text) as account_id,
        cast(month as date) as month,
        cast(tickets_opened as integer) as tickets_opened,
        cast(tickets_resolved as integer) as tickets_resolved,
        cast(avg_first_response_hours as numeric(10, 2)) as avg_first_response_hours,
        cast(median_resolution_hours as numeric(10, 2)) as median_resolution_hours,
        cast(surveys as integer) as surveys,
        cast(csat_avg as numeric(4, 2)) as csat_avg,
        cast(promoters as integer) as promoters,
        cast(passives as integer) as passives,
        cast(detractors as integer) as detractors,
        cast(
            100.0 * (promoters - detractors) / nullif(promoters + passives + detractors, 0)
            as numeric(6, 2)
        ) as nps

    from joined

)

select * from final
