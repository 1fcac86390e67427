-- One row per opportunity x stage it ever entered (stage entries deleted in the CRM left out),
-- with the first and last time it entered the stage.
with

stage_history as (

    select * from {{ ref('stg_crm__opportunity_stage_history') }}

    -- an entry deleted in the CRM is not a stage the opportunity reached
    where is_deleted is not true

),

stages_reached as (

    select
        opportunity_id,
        stage,
        stage_order,
        min(entered_at) as first_entered_at,
        max(entered_at) as last_entered_at,
        count(*) as times_entered

    from stage_history

    group by
        opportunity_id,
        stage,
        stage_order

),

final as (

    select
        opportunity_id,
        stage,
        stage_order,
        first_entered_at,
        {{ to_reporting_date('first_entered_at') }} as first_entered_date,
        last_entered_at,
        cast(times_entered as integer) as times_entered

    from stages_reached

)

select * from final
