-- Bookings: one row per won opportunity, dated by its actual close date, with the versions of
-- the rep and the customer valid when it closed (a rep who later moves team keeps this booking
-- in the old team).
{{
    config(
        materialized='incremental',
        unique_key='opportunity_id',
        post_hook="{{ delete_keys_gone_from(ref('int_opportunities_won'), 'opportunity_id') }}",
    )
}}

with

bookings as (

    select * from {{ ref('int_opportunities_won') }}

),

sales_reps as (

    select * from {{ ref('dim_sales_rep') }}

),

customers as (

    select * from {{ ref('dim_customer') }}

),

{% if is_incremental() %}
-- a won deal loaded since the last run, one whose rate was (re)published since, or one whose
-- rep or customer got a version since (a backfilled version can change which one was valid
-- at close)
changed_bookings as (

    select opportunity_id from bookings where _loaded_at > {{ incremental_cutoff() }}
    union
    select bookings.opportunity_id
    from bookings
    {{ join_fx_rate('fx', 'bookings.currency', 'bookings.booking_date') }}
    where fx._loaded_at > {{ incremental_cutoff() }}
    union
    {{ keys_with_new_rep_or_customer_version('bookings', 'opportunity_id', 'owner_rep_id', 'account_id') }}

),
{% endif %}

joined as (

    select
        bookings.*,
        sales_reps.sales_rep_key,
        customers.customer_key,
        -- converted with the rate of the booking (close) date
        {{ to_reporting_currency('bookings.booking_amount', 'fx') }} as booking_amount_reporting,
        greatest(
            bookings._loaded_at, sales_reps._loaded_at, customers._loaded_at, fx._loaded_at
        ) as last_loaded_at

    from bookings

    left join sales_reps
        on
            bookings.owner_rep_id = sales_reps.rep_id
            and {{ scd2_valid_at('sales_reps', 'bookings.closed_at') }}

    left join customers
        on
            bookings.account_id = customers.customer_id
            and {{ scd2_valid_at('customers', 'bookings.closed_at') }}

    {{ join_fx_rate('fx', 'bookings.currency', 'bookings.booking_date') }}

    {% if is_incremental() %}
    where bookings.opportunity_id in (select opportunity_id from changed_bookings)
    {% endif %}

),

final as (

    select
        cast(opportunity_id as text) as opportunity_id,
        cast(account_id as text) as account_id,
        cast(customer_key as text) as customer_key,
        cast(owner_rep_id as text) as owner_rep_id,
        cast(sales_rep_key as text) as sales_rep_key,
        cast(product_line as text) as product_line,
        cast(lead_source as text) as lead_source,
        cast(booking_amount as numeric(18, 2)) as booking_amount,
        cast(currency as text) as currency,
        cast(booking_amount_reporting as numeric(18, 2)) as booking_amount_reporting,
        cast(created_at as timestamptz) as created_at,
        cast(closed_at as timestamptz) as closed_at,
        cast(booking_date as date) as booking_date,
        cast(booking_month as date) as booking_month,
        cast(signing_cycle_days as integer) as signing_cycle_days,
        cast(last_loaded_at as timestamptz) as _loaded_at

    from joined

)

select * from final
