-- rep_scorecard takes its targets and bookings from target_attainment: per rep x month they
-- are the sums of the rep's target_attainment rows. Returns the rep-months that differ.
with

scorecard as (

    select rep_id, month, target_amount, bookings_amount
    from {{ ref('rep_scorecard') }}

),

attainment as (

    select
        rep_id,
        month,
        sum(target_amount) as target_amount,
        sum(bookings_amount) as bookings_amount

    from {{ ref('target_attainment') }}

    group by rep_id, month

),

final as (

    select
        coalesce(scorecard.rep_id, attainment.rep_id) as rep_id,
        coalesce(scorecard.month, attainment.month) as month,
        coalesce(scorecard.bookings_amount, 0) as scorecard_bookings,
        coalesce(attainment.bookings_amount, 0) as attainment_bookings,
        coalesce(scorecard.target_amount, 0) as scorecard_target,
        coalesce(attainment.target_amount, 0) as attainment_target

    from scorecard

    full outer join attainment
        on
            scorecard.rep_id = attainment.rep_id
            and scorecard.month = attainment.month

)

select * from final
where
    scorecard_bookings <> attainment_bookings
    or scorecard_target <> attainment_target
