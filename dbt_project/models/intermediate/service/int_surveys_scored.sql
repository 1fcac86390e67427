-- One row per satisfaction survey with its NPS category (promoter 9-10, passive 7-8,
-- detractor 0-6; null without a valid NPS answer) and the date and month (reporting time zone)
-- it was submitted. The one definition of promoters and detractors, shared by every mart.
with

surveys as (

    select * from {{ ref('stg_after_sales__surveys') }}

),

scored as (

    select
        survey_id,
        ticket_id,
        account_id,
        csat,
        nps,
        case
            when nps between 9 and 10 then 'promoter'
            when nps between 7 and 8 then 'passive'
            when nps between 0 and 6 then 'detractor'
        end as nps_category,
        submitted_at,
        {{ to_reporting_date('submitted_at') }} as submitted_date,
        _loaded_at

    from surveys

    -- deleted in the service desk: leaves every fact and mart
    where is_deleted is not true

),

final as (

    select
        survey_id,
        ticket_id,
        account_id,
        csat,
        nps,
        nps_category,
        submitted_at,
        submitted_date,
        cast(date_trunc('month', submitted_date) as date) as submitted_month,
        _loaded_at

    from scored

)

select * from final
