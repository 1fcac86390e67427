with

source as (

    select * from {{ source('finance', 'product_costs') }}

),

renamed as (

    select
        -- ids
        product_cost_id,

        -- attributes
        lower(product_line) as product_line,
        cast(valid_from as date) as valid_from,

        -- standard cost as a share of the price (0.6400 = 64%)
        cast(cost_rate as numeric(9, 4)) as cost_rate,

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

    {{ dedupe_latest('renamed', 'product_cost_id', 'updated_at') }}

),

final as (

    -- a rate holds until the product line's next one takes effect
    select
        *,
        lead(valid_from) over (partition by product_line order by valid_from) as valid_to
    from deduplicated

)

select * from final
