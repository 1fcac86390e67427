-- Stage conversion: of the opportunities that entered a stage in a month, how many later
-- reached any later stage (advanced) and how many ended closed_lost.
with

stages_reached as (

    select * from {{ ref('int_opportunity_stages_reached') }}

),

opportunities as (

    select * from {{ ref('stg_crm__opportunities') }}

),

funnel_stages as (

    {{ opportunity_funnel_stages() }}

),

stage_entries as (

    select
        stages_reached.opportunity_id,
        funnel_stages.stage,
        funnel_stages.stage_order,
        funnel_stages.next_stage,
        stages_reached.first_entered_at,
        cast(date_trunc('month', stages_reached.first_entered_date) as date) as entered_month

    from stages_reached

    inner join funnel_stages
        on stages_reached.stage = funnel_stages.stage

),

stage_entries_flagged as (

    select
        stage_entries.*,
        exists (
            select 1
            from stages_reached as later_stages
            where
                later_stages.opportunity_id = stage_entries.opportunity_id
                and later_stages.stage_order > stage_entries.stage_order
                and later_stages.last_entered_at >= stage_entries.first_entered_at
        ) as has_advanced,
        coalesce(opportunities.is_lost, false) as has_ended_lost

    from stage_entries

    left join opportunities
        on stage_entries.opportunity_id = opportunities.opportunity_id

),

aggregated as (

    select
        stage,
        stage_order,
        next_stage,
        entered_month,
        count(distinct opportunity_id) as entered_count,
        count(distinct case when has_advanced then opportunity_id end) as advanced_count,
        count(distinct case when has_ended_lost then opportunity_id end) as lost_count

    from stage_entries_flagged

    group by
        stage,
        stage_order,
        next_stage,
        entered_month

),

final as (

    select
        cast(stage as text) as stage,
        cast(stage_order as integer) as stage_order,
        cast(next_stage as text) as next_stage,
        cast(entered_month as date) as entered_month,
        cast(entered_count as integer) as entered_count,
        cast(advanced_count as integer) as advanced_count,
        cast(lost_count as integer) as lost_count,
        cast(advanced_count * 1.0 / nullif(entered_count, 0) as numeric(7, 4)) as conversion_rate

    from aggregated

)

select * from final
