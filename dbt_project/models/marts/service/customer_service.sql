-- Service quality per account and month: tickets opened and resolved, first-response and
-- resolution time, CSAT and NPS, and the renewal rate of its service contracts. A row for every
-- month in which the account opened a ticket, had a ticket resolved, answered a survey or had a
-- service contract end.
with

tickets as (

    select * from {{ ref('int_tickets_timed') }}

),

surveys as (

    select * from {{ ref('int_surveys_scored') }}

),

contracts as (

    select * from {{ ref('stg_after_sales__service_contracts') }}

    -- deleted in the service desk: neither an ending contract nor a renewal
    where is_deleted is not true

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
        count(csat) as csat_answers,
        sum(csat) as csat_total,
        count(*) filter (where nps_category = 'promoter') as promoters,
        count(*) filter (where nps_category = 'passive') as passives,
        count(*) filter (where nps_category = 'detractor') as detractors

    from surveys

    where submitted_month is not null

    group by
        account_id,
        submitted_month

),

-- renewal: of the contracts that ended in the month (up to the run date), the ones renewed --
-- a later contract renews them (renewed_from_contract_id) or their status is renewed
contracts_ended as (

    select
        contracts.contract_id,
        contracts.account_id,
        cast(date_trunc('month', contracts.end_date) as date) as month,
        coalesce(contracts.status = 'renewed', false) or exists (
            select 1
            from contracts as renewals
            where renewals.renewed_from_contract_id = contracts.contract_id
        ) as is_renewed

    from contracts

    where contracts.end_date <= {{ get_run_date() }}

),

renewals_per_month as (

    select
        account_id,
        month,
        count(*) as contracts_ending,
        count(*) filter (where is_renewed) as contracts_renewed

    from contracts_ended

    group by
        account_id,
        month

),

account_months as (

    select account_id, month from tickets_opened_per_month
    union
    select account_id, month from tickets_resolved_per_month
    union
    select account_id, month from surveys_per_month
    union
    select account_id, month from renewals_per_month

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
        coalesce(surveys_per_month.csat_answers, 0) as csat_answers,
        coalesce(surveys_per_month.csat_total, 0) as csat_total,
        coalesce(surveys_per_month.promoters, 0) as promoters,
        coalesce(surveys_per_month.passives, 0) as passives,
        coalesce(surveys_per_month.detractors, 0) as detractors,
        coalesce(renewals_per_month.contracts_ending, 0) as contracts_ending,
        coalesce(renewals_per_month.contracts_renewed, 0) as contracts_renewed

    from account_months

    {{ left_join_each(
        'account_months',
        [
            'tickets_opened_per_month',
            'tickets_resolved_per_month',
            'surveys_per_month',
            'renewals_per_month',
        ],
        ['account_id', 'month'],
    ) }}

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
        cast(csat_answers as integer) as csat_answers,
        cast(csat_total as integer) as csat_total,
        cast(promoters as integer) as promoters,
        cast(passives as integer) as passives,
        cast(detractors as integer) as detractors,
        cast(
            100.0 * (promoters - detractors) / nullif(promoters + passives + detractors, 0)
            as numeric(6, 2)
        ) as nps,
        cast(contracts_ending as integer) as contracts_ending,
        cast(contracts_renewed as integer) as contracts_renewed,
        cast(contracts_renewed * 1.0 / nullif(contracts_ending, 0) as numeric(7, 4)) as renewal_rate

    from joined

)

select * from final
