-- One row per opportunity in its current state: who, what, how much (as in the source and in
-- the reporting currency), where it stands and how long it took to close.
{{
    config(
        materialized='incremental',
        unique_key='opportunity_id',
        post_hook="{{ delete_keys_gone_from(ref('int_opportunities_timed'), 'opportunity_id') }}",
    )
}}

with

opportunities as (

    select * from {{ ref('int_opportunities_timed') }}

),

-- the amount's rate: the close date's for a won or lost deal, the creation date's while open
-- (a fixed date, so an open deal's reporting amount does not move with the run date)
converted as (

    select
        opportunities.*,
        {{ to_reporting_currency('opportunities.amount', 'fx') }} as amount_reporting,
        greatest(opportunities._loaded_at, fx._loaded_at) as last_loaded_at

    from opportunities

    {{ join_fx_rate(
        'fx', 'opportunities.currency', 'coalesce(opportunities.closed_date, opportunities.created_date)'
    ) }}

),

{% if is_incremental() %}
-- a deal loaded since the last run, or one whose rate was (re)published since
changed_opportunities as (

    select opportunity_id from converted where last_loaded_at > {{ incremental_cutoff() }}

),
{% endif %}

final as (

    select
        cast(opportunity_id as text) as opportunity_id,
        cast(account_id as text) as account_id,
        cast(owner_rep_id as text) as owner_rep_id,
        cast(product_line as text) as product_line,
        cast(lead_source as text) as lead_source,
        cast(amount as numeric(18, 2)) as amount,
        cast(currency as text) as currency,
        cast(amount_reporting as numeric(18, 2)) as amount_reporting,
        cast(stage as text) as stage,
        cast(stage_order as integer) as stage_order,
        cast(is_won as boolean) as is_won,
        cast(is_lost as boolean) as is_lost,
        cast(is_open as boolean) as is_open,
        cast(created_at as timestamptz) as created_at,
        cast(created_date as date) as created_date,
        cast(expected_close_date as date) as expected_close_date,
        cast(closed_at as timestamptz) as closed_at,
        cast(closed_date as date) as closed_date,
        cast(days_to_close as integer) as days_to_close,
        cast(updated_at as timestamptz) as updated_at,
        cast(last_loaded_at as timestamptz) as _loaded_at

    from converted

    {% if is_incremental() %}
    where opportunity_id in (select opportunity_id from changed_opportunities)
    {% endif %}

)

select * from final
