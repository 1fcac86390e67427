with

source as (

    select * from {{ source('finance', 'fx_rates') }}

),

renamed as (

    select
        -- ids
        fx_rate_id,

        -- attributes
        cast(rate_date as date) as rate_date,
        upper(currency) as currency,

        -- rate: CNY per one unit of currency (CNY itself is 1)
        cast(rate_to_cny as numeric(18, 6)) as rate_to_cny,

        -- timestamps
        cast(updated_at as timestamptz) as updated_at,

        -- loader metadata
        _batch_id,
        _batch_date,
        _loaded_at,
        _origin

    from source

),

deduplicated as (

    {{ dedupe_latest('renamed', 'fx_rate_id', 'updated_at') }}

),

final as (

    select * from deduplicated

)

select * from final
