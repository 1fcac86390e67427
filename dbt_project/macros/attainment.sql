{#-
    Attainment (达成率) measures shared by target_attainment (rep x month) and
    target_attainment_rollup (rep, team, region x month, quarter, year, fiscal quarter, fiscal
    year), so both compute them the same way.
-#}

{#-
    SQL select-list (cast, named columns) of the attainment measures of a period, from the
    columns target_amount, bookings_amount, cash_collected_amount, open_pipeline_amount and
    weighted_pipeline_amount of the relation in scope, and the period's first and last day:
      - attainment_rate / cash_attainment_rate = actual / target (null when the target is 0);
      - gap_to_target / cash_gap_to_target = target - actual (negative when over target);
      - days_in_period, elapsed_days = days of the period up to and including the run date
        (get_run_date(); 0 for a period that has not started, all of them for one that ended);
      - *_run_rate_forecast = actual / elapsed_days x days_in_period (null before the period
        starts; the actual once it has ended);
      - remaining_target = target - bookings, floored at 0;
      - pipeline_coverage = weighted_pipeline_amount / remaining_target, null when nothing
        remains or the period ended before the run date.
-#}
{% macro attainment_measures(period_start, period_end) -%}
    {%- set elapsed -%}
        least(greatest({{ get_run_date() }} - {{ period_start }} + 1, 0), {{ period_end }} - {{ period_start }} + 1)
    {%- endset -%}
    {%- set days -%}
        ({{ period_end }} - {{ period_start }} + 1)
    {%- endset -%}
        cast(target_amount as numeric(18, 2)) as target_amount,
        cast(bookings_amount as numeric(18, 2)) as bookings_amount,
        cast(bookings_amount / nullif(target_amount, 0) as numeric(9, 4)) as attainment_rate,
        cast(target_amount - bookings_amount as numeric(18, 2)) as gap_to_target,
        cast(cash_collected_amount as numeric(18, 2)) as cash_collected_amount,
        cast(cash_collected_amount / nullif(target_amount, 0) as numeric(9, 4))
            as cash_attainment_rate,
        cast(target_amount - cash_collected_amount as numeric(18, 2)) as cash_gap_to_target,
        cast({{ days }} as integer) as days_in_period,
        cast({{ elapsed }} as integer) as elapsed_days,
        cast(
            bookings_amount / nullif({{ elapsed }}, 0) * {{ days }} as numeric(18, 2)
        ) as bookings_run_rate_forecast,
        cast(
            cash_collected_amount / nullif({{ elapsed }}, 0) * {{ days }} as numeric(18, 2)
        ) as cash_run_rate_forecast,
        cast(open_pipeline_amount as numeric(18, 2)) as open_pipeline_amount,
        cast(weighted_pipeline_amount as numeric(18, 2)) as weighted_pipeline_amount,
        cast(greatest(target_amount - bookings_amount, 0) as numeric(18, 2)) as remaining_target,
        cast(
            case
                when {{ period_end }} >= {{ get_run_date() }}
                    then weighted_pipeline_amount
                    / nullif(greatest(target_amount - bookings_amount, 0), 0)
            end
            as numeric(12, 4)
        ) as pipeline_coverage
{%- endmacro %}
