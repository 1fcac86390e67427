-- One row per stage entry of an opportunity: when it entered the stage, when it left it (the
-- next entry), the stage it went to, and the days it spent there.
{{
    config(
        materialized='incremental',
        unique_key='history_id',
        post_hook="{{ delete_keys_gone_from(ref('stg_crm__opportunity_stage_history'), 'history_id', 'is_deleted is not true') }}",
    )
}}

with

stage_history as (

    select * from {{ ref('stg_crm__opportunity_stage_history') }}

    -- an entry deleted in the CRM leaves the fact (delete_keys_gone_from)
    where is_deleted is not true

),

{% if is_incremental() %}
-- a new entry closes the opportunity's previous one: re-derive every entry of an opportunity
-- with an entry loaded since the last run
changed_opportunities as (

    select distinct opportunity_id
    from stage_history
    where _loaded_at > {{ incremental_cutoff() }}

),
{% endif %}

entries as (

    select
        history_id,
        opportunity_id,
        stage,
        stage_order,
        entered_at,
        entered_date,
        lead(entered_at) over opportunity_entries as exited_at,
        lead(entered_date) over opportunity_entries as exited_date,
        lead(stage) over opportunity_entries as next_stage,
        _loaded_at

    from stage_history

    {% if is_incremental() %}
    where opportunity_id in (select opportunity_id from changed_opportunities)
    {% endif %}

    window opportunity_entries as (
        partition by opportunity_id
        order by entered_at, history_id
    )

),

final as (

    select
        cast(history_id as text) as history_id,
        cast(opportunity_id as text) as opportunity_id,
        cast(stage as text) as stage,
        cast(stage_order as integer) as stage_order,
        cast(entered_at as timestamptz) as entered_at,
        cast(entered_date as date) as entered_date,
        cast(exited_at as timestamptz) as exited_at,
        cast(next_stage as text) as next_stage,
        cast(exited_at is null as boolean) as is_latest_stage,
        cast(exited_date - entered_date as integer) as days_in_stage,
        cast(_loaded_at as timestamptz) as _loaded_at

    from entries

)

select * from final
