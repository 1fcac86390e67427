{#-
    First and last day of dim_date, as SQL date expressions: the range of days the data can hold,
    by the loader's own rule (sources.yml plausible_dates: no date before not_before, none more
    than the largest days_ahead after its batch's day), so every record's date is in the
    calendar, a 2016 export's as a 2026 one's. The vars repeat sources.yml's numbers;
    tests/test_contract.py keeps them equal. Macros rather than literals in the model so that
    dim_date's unit tests can narrow the calendar to a few hand-checked days (unit test
    overrides: macros).
-#}
{% macro calendar_first_day() -%}
    cast('{{ var("calendar_first_day") }}' as date)
{%- endmacro %}


{#- The last day of the year the run date's furthest plausible date falls in. -#}
{% macro calendar_last_day() -%}
    cast(
        date_trunc('year', {{ get_run_date() }} + {{ var("calendar_days_ahead") | int }})
        + interval '1 year' - interval '1 day'
        as date
    )
{%- endmacro %}
