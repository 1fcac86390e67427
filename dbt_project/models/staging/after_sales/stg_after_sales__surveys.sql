with

source as (

    select * from {{ source('after_sales', 'surveys') }}

),

deletions as (

    -- the API's deleted-records listing: when each deleted record went
    select
        survey_id,
        max(cast(deleted_at as timestamptz)) as deleted_at
    from {{ source('after_sales', 'surveys__deleted') }}
    group by survey_id

),

renamed as (

    select
        -- ids
        survey_id,
        ticket_id,
        account_id,

        -- scores
        cast(csat as integer) as csat,
        cast(nps as integer) as nps,

        -- timestamps
        cast(submitted_at as timestamptz) as submitted_at,

        -- loader metadata
        _batch_id,
        _batch_date,
        _loaded_at,
        _origin

    from source

),

deduplicated as (

    {{ dedupe_latest('renamed', 'survey_id', 'submitted_at') }}

),

final as (

    -- deleted in the source when deleted after its latest version; the row stays, flagged
    select
        deduplicated.*,
        deletions.deleted_at is not null as is_deleted,
        deletions.deleted_at
    from deduplicated
    left join deletions
        on
            deduplicated.survey_id = deletions.survey_id
            and deletions.deleted_at >= coalesce(deduplicated.submitted_at, '-infinity')

)

select * from final
