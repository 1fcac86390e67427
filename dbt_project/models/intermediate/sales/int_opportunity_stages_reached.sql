with

stage_history as (

    select * from {{ ref('stg_crm__opportunity_stage_history') }}

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
