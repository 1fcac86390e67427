-- Every visit in fct_activities lands in rep_scorecard once: per rep x month, the scorecard's
-- visits equal the fct_activities rows of type visit (so their totals agree too). Returns the
-- rep-months that differ (e.g. a visit without occurred_at has no month and never matches).
with

scorecard as (

    select rep_id, month, visits
    from {{ ref('rep_scorecard') }}

),

activities as (

    select
        coalesce(rep_id, 'unknown') as rep_id,
        occurred_month as month,
        count(*) as visits

    from {{ ref('fct_activities') }}

    where activity_type = 'visit'

    group by 1, 2

),

final as (

    select
        coalesce(scorecard.rep_id, activities.rep_id) as rep_id,
        coalesce(scorecard.month, activities.month) as month,
        coalesce(scorecard.visits, 0) as scorecard_visits,
        coalesce(activities.visits, 0) as activity_visits

    from scorecard

    full outer join activities
        on
            scorecard.rep_id = activities.rep_id
            and scorecard.month = activities.month

)

select * from final
where scorecard_visits <> activity_visits
