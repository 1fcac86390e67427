-- Rep scorecard per rep x month, for coaching and incentive schemes: bookings attainment, win
-- rate, visits, new customers, collection rate on the rep's invoices and CSAT of the rep's
-- accounts. Every figure comes from the mart or model that defines it.
with

attainment as (

    select * from {{ ref('target_attainment') }}

),

opportunities as (

    select * from {{ ref('int_opportunities_timed') }}

),

activities as (

    select * from {{ ref('fct_activities') }}

),

bookings as (

    select * from {{ ref('fct_bookings') }}

),

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

collections as (

    select * from {{ ref('collections') }}

),

surveys as (

    select * from {{ ref('int_surveys_scored') }}

),

customers as (

    select * from {{ ref('dim_customer') }}

),

sales_reps as (

    select * from {{ ref('dim_sales_rep') }}

),

-- target_attainment's grain is rep x team x region x product line x month: sum the rep's rows
attainment_per_month as (

    select
        rep_id,
        month,
        sum(target_amount) as target_amount,
        sum(bookings_amount) as bookings_amount

    from attainment

    group by rep_id, month

),

closed_per_month as (

    select
        coalesce(owner_rep_id, 'unknown') as rep_id,
        closed_month as month,
        count(*) filter (where is_won) as won_count,
        count(*) filter (where is_lost) as lost_count

    from opportunities

    where (is_won or is_lost) and closed_month is not null

    group by 1, 2

),

-- fct_activities has no activity deleted in the CRM
visits_per_month as (

    select
        coalesce(rep_id, 'unknown') as rep_id,
        occurred_month as month,
        count(*) as visits

    from activities

    where activity_type = 'visit' and occurred_month is not null

    group by 1, 2

),

-- an account's first booking (earliest close, then lowest opportunity id) makes it a new
-- customer of the rep who closed it, in that month
first_bookings as (

    select
        bookings.account_id,
        coalesce(bookings.owner_rep_id, 'unknown') as rep_id,
        bookings.booking_month as month,
        row_number() over (
            partition by bookings.account_id
            order by bookings.closed_at, bookings.opportunity_id
        ) as booking_number

    from bookings

    -- inner: an account deleted in the CRM is no new customer
    inner join accounts
        on bookings.account_id = accounts.account_id

    where accounts.is_deleted is not true

),

new_customers_per_month as (

    select
        rep_id,
        month,
        count(*) as new_customers

    from first_bookings

    where booking_number = 1

    group by rep_id, month

),

-- collection rate as collections defines it: what was collected on the invoices due in the
-- month / what fell due, summed over the rep's accounts
collections_per_month as (

    select
        owner_rep_id as rep_id,
        month,
        sum(amount_due_in_month) as amount_due_in_month,
        sum(amount_due_collected) as amount_due_collected

    from collections

    group by owner_rep_id, month

),

-- a survey counts for the rep who owned the account when it was submitted
surveys_per_month as (

    select
        coalesce(customers.owner_rep_id, 'unknown') as rep_id,
        surveys.submitted_month as month,
        count(*) as surveys,
        -- count and sum skip a survey without a CSAT answer, as avg does: csat_avg is their ratio
        count(surveys.csat) as csat_answers,
        sum(surveys.csat) as csat_total

    from surveys

    left join customers
        on
            surveys.account_id = customers.customer_id
            and {{ scd2_valid_at('customers', 'surveys.submitted_at') }}

    where surveys.submitted_month is not null

    group by 1, 2

),

rep_months as (

    select rep_id, month from attainment_per_month
    union
    select rep_id, month from closed_per_month
    union
    select rep_id, month from visits_per_month
    union
    select rep_id, month from new_customers_per_month
    union
    select rep_id, month from collections_per_month
    union
    select rep_id, month from surveys_per_month

),

rep_months_at as (

    select
        rep_id,
        month,
        -- the month's first instant in the reporting time zone
        cast(month as timestamp) at time zone '{{ var("reporting_timezone", "UTC") }}' as month_start_at

    from rep_months

),

joined as (

    select
        rep_months.rep_id,
        rep_months.month,
        sales_reps.rep_name,
        sales_reps.team,
        sales_reps.region,
        coalesce(attainment_per_month.target_amount, 0) as target_amount,
        coalesce(attainment_per_month.bookings_amount, 0) as bookings_amount,
        coalesce(closed_per_month.won_count, 0) as won_count,
        coalesce(closed_per_month.lost_count, 0) as lost_count,
        coalesce(visits_per_month.visits, 0) as visits,
        coalesce(new_customers_per_month.new_customers, 0) as new_customers,
        coalesce(collections_per_month.amount_due_in_month, 0) as amount_due_in_month,
        coalesce(collections_per_month.amount_due_collected, 0) as amount_due_collected,
        coalesce(surveys_per_month.surveys, 0) as surveys,
        coalesce(surveys_per_month.csat_answers, 0) as csat_answers,
        coalesce(surveys_per_month.csat_total, 0) as csat_total

    from rep_months_at as rep_months

    -- the rep's team and region at the first instant of the month, as fct_targets takes them
    left join sales_reps
        on
            rep_months.rep_id = sales_reps.rep_id
            and {{ scd2_valid_at('sales_reps', 'rep_months.month_start_at') }}

    {{ left_join_each(
        'rep_months',
        [
            'attainment_per_month',
            'closed_per_month',
            'visits_per_month',
            'new_customers_per_month',
            'collections_per_month',
            'surveys_per_month',
        ],
        ['rep_id', 'month'],
    ) }}

),

final as (

    select
        cast(rep_id as text) as rep_id,
        cast(month as date) as month,
        cast(rep_name as text) as rep_name,
        cast(team as text) as team,
        cast(region as text) as region,
        cast(target_amount as numeric(18, 2)) as target_amount,
        cast(bookings_amount as numeric(18, 2)) as bookings_amount,
        cast(bookings_amount / nullif(target_amount, 0) as numeric(9, 4)) as attainment_rate,
        cast(won_count as integer) as won_count,
        cast(lost_count as integer) as lost_count,
        cast(won_count * 1.0 / nullif(won_count + lost_count, 0) as numeric(7, 4)) as win_rate,
        cast(visits as integer) as visits,
        cast(new_customers as integer) as new_customers,
        cast(amount_due_in_month as numeric(18, 2)) as amount_due_in_month,
        cast(amount_due_collected as numeric(18, 2)) as amount_due_collected,
        cast(
            amount_due_collected / nullif(amount_due_in_month, 0) as numeric(9, 4)
        ) as collection_rate,
        cast(surveys as integer) as surveys,
        cast(csat_total * 1.0 / nullif(csat_answers, 0) as numeric(4, 2)) as csat_avg,
        cast(csat_answers as integer) as csat_answers,
        cast(csat_total as integer) as csat_total

    from joined

)

select * from final
