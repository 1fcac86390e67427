{#-
    FX conversion into the reporting currency (var reporting_currency, default CNY).

    int_fx_rates_daily holds one rate per currency and day (the last published rate carried
    forward over days without one), as units of the reporting currency per unit of the
    currency. A model converts an amount in two steps, a join and an expression, so the rate
    comes from a plain equi-join (no correlated subquery per row):

        from payments
        {{ join_fx_rate('payment_fx', 'payments.currency', 'payments.paid_on') }}
        ...
        {{ to_reporting_currency('payments.payment_amount', 'payment_fx') }} as amount_reporting

    The converted amount is rounded to 2 decimals; it is null when the date has no rate (before
    the first published rate of the currency), which tests/assert_every_amount_has_an_fx_rate
    reports instead of letting the money silently drop out of the sums.
-#}
{% macro reporting_currency() -%}
    {%- set currency = var('reporting_currency', 'CNY') | string | trim | upper -%}
    {%- if not modules.re.match('^[A-Z]{3}$', currency) -%}
        {{ exceptions.raise_compiler_error(
            "var reporting_currency must be an ISO 4217 code such as CNY, got '" ~ currency ~ "'"
        ) }}
    {%- endif -%}
    {{ return(currency) }}
{%- endmacro %}


{#- SQL join clause: the daily rate (alias rate_alias) of currency_column on date_column. -#}
{% macro join_fx_rate(rate_alias, currency_column, date_column) -%}
    left join {{ ref('int_fx_rates_daily') }} as {{ rate_alias }}
        on
            {{ currency_column }} = {{ rate_alias }}.currency
            and {{ date_column }} = {{ rate_alias }}.rate_date
{%- endmacro %}


{#- SQL expression: amount_column in the reporting currency, with the rate joined by join_fx_rate. -#}
{% macro to_reporting_currency(amount_column, rate_alias) -%}
    round({{ amount_column }} * {{ rate_alias }}.rate_to_reporting, 2)
{%- endmacro %}
