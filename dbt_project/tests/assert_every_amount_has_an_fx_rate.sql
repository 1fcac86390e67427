-- A missing FX rate must not silently drop money from the marts: every amount of the facts has
-- its amount in the reporting currency. Returns one row per amount without one (its currency
-- has no rate on or before its date in int_fx_rates_daily, or the reporting currency has none).
-- Targets are checked one by one in staging: fct_targets sums them per rep, line and month.
{%- set facts = [
    ('fct_opportunities', 'opportunity_id', 'amount', 'amount_reporting'),
    ('fct_bookings', 'opportunity_id', 'booking_amount', 'booking_amount_reporting'),
    ('fct_invoices', 'invoice_id', 'gross_amount', 'gross_amount_reporting'),
    ('fct_payments', 'payment_id', 'amount', 'amount_reporting'),
] %}

with

targets as (

    select * from {{ ref('stg_crm__targets') }}

    where is_deleted is not true

),

target_rates as (

    select
        targets.target_id,
        targets.currency,
        targets.target_amount,
        {{ to_reporting_currency('targets.target_amount', 'fx') }} as target_amount_reporting

    from targets

    {{ join_fx_rate('fx', 'targets.currency', 'targets.target_month') }}

),

final as (

    {% for fact, key, amount, converted in facts %}
    select
        '{{ fact }}' as fact,
        {{ key }} as record_id,
        currency,
        {{ amount }} as amount

    from {{ ref(fact) }}

    where {{ amount }} is not null and {{ converted }} is null

    union all

    {% endfor %}
    select
        'fct_targets' as fact,
        target_id as record_id,
        currency,
        target_amount as amount

    from target_rates

    where target_amount is not null and target_amount_reporting is null

)

select * from final
