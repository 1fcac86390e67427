with

source as (

    select * from {{ source('crm', 'reps') }}

),

deletions as (

    {{ deletions_of('crm', 'reps', 'rep_id') }}

),

renamed as (

    select
        -- ids
        rep_id,
        manager_id as manager_rep_id,

        -- attributes
        full_name as rep_name,
        email,
        team,
        region,
        cast(is_active as boolean) as is_active,

        -- dates and timestamps
        cast(hire_date as date) as hire_date,
        cast(updated_at as timestamptz) as updated_at,

        -- loader metadata
        _batch_id,
        _batch_date,
        _loaded_at,
        _origin

    from source

),

deduplicated as (

    {{ dedupe_latest('renamed', 'rep_id', 'updated_at') }}

),

final as (

    {{ flag_deleted('deduplicated', 'deletions', 'rep_id', 'updated_at') }}

)

select * from final
